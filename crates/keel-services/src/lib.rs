//! Keel's use cases, one module per bounded context: the only place business rules run.
//!
//! A service validates its input into domain types, opens a transaction when it changes
//! several tables, calls the store's repositories and maps store errors to [`ServiceError`]s
//! that say what went wrong in the caller's terms (a taken handle, an unknown category). The api
//! crate calls these services and never touches SQL; the worker will call the same ones.

pub mod api_keys;
pub mod carts;
pub mod catalog;
pub mod checkout;
pub mod demo;
pub mod documents;
mod error;
pub mod events;
pub mod idempotency;
pub mod identity;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod oidc;
pub mod orders;
pub mod payments;
pub mod price_lists;
pub mod promotions;
pub mod providers;
pub mod regions;
pub mod search;
pub mod webhooks;

pub use error::ServiceError;
pub use keel_store::{Db, DbConfig, Engine};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The current time, truncated to microseconds so it survives a round trip through PostgreSQL.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// For PATCH bodies: a present field (even `null`) is `Some`, so `null` can clear a value while
/// an absent field (`#[serde(default)]`) leaves it.
pub(crate) fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Settings that change what services allow.
#[derive(Clone)]
pub struct ServiceOptions {
    /// Let webhooks target private, loopback and link-local addresses (tests, development).
    pub webhooks_allow_private: bool,
    pub identity: identity::IdentityOptions,
    /// OpenID providers staff may sign in with.
    pub oidc_providers: Vec<oidc::OidcProviderConfig>,
    /// Seals secrets stored in the database (webhook secrets, stored idempotent responses).
    pub secrets: keel_platform::secrets::SecretBox,
    /// Tax and fulfillment providers (built-in: the rate table and `manual` shipping).
    pub providers: providers::Providers,
    /// Where generated documents (invoice PDFs) are kept.
    pub files: keel_platform::files::FileStore,
    /// Capture payments as soon as the order is placed (else staff capture them, e.g. when
    /// shipping).
    pub auto_capture: bool,
}

impl Default for ServiceOptions {
    /// Defaults for tools and tests: a throw-away sealing key (sealed values die with the process).
    fn default() -> Self {
        ServiceOptions {
            webhooks_allow_private: false,
            identity: identity::IdentityOptions::default(),
            oidc_providers: Vec::new(),
            secrets: keel_platform::secrets::SecretBox::ephemeral(),
            providers: providers::Providers::default(),
            files: keel_platform::files::FileStore::local(std::env::temp_dir().join("keel-files")),
            auto_capture: false,
        }
    }
}

/// Every service, built once at start-up and shared by the api and worker roles.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    /// Tax, fulfillment and payment providers.
    pub providers: providers::Providers,
    pub catalog: catalog::CatalogService,
    pub api_keys: api_keys::ApiKeyService,
    pub customers: identity::customers::CustomerService,
    pub staff: identity::staff::StaffService,
    pub audit: identity::audit::AuditService,
    pub inventory: inventory::InventoryService,
    pub carts: carts::CartService,
    pub checkout: checkout::CheckoutService,
    pub orders: orders::OrderService,
    pub regions: regions::RegionService,
    pub price_lists: price_lists::PriceListService,
    pub promotions: promotions::PromotionService,
    pub idempotency: idempotency::IdempotencyService,
    pub jobs: jobs::JobService,
    pub webhooks: webhooks::WebhookService,
    /// Catalog search (serving once [`search::SearchService::start`] has built the index).
    pub search: search::SearchService,
}

impl Services {
    /// Services with default options (webhooks may only target public addresses).
    pub fn new(db: Db) -> Self {
        Self::with_options(db, ServiceOptions::default())
    }

    pub fn with_options(db: Db, options: ServiceOptions) -> Self {
        let sessions = identity::sessions::SessionService::new(db.clone(), options.identity.clone());
        let throttle = identity::throttle::Throttle::new(db.clone(), options.identity.throttle.clone());
        let api_keys = api_keys::ApiKeyService::new(db.clone());
        let carts = carts::CartService::new(db.clone(), options.providers.clone());
        let orders = orders::OrderService::new(db.clone(), options.providers.clone());
        Services {
            customers: identity::customers::CustomerService::new(
                db.clone(),
                sessions.clone(),
                throttle.clone(),
                options.identity.clone(),
                options.secrets.clone(),
            ),
            staff: identity::staff::StaffService::new(
                db.clone(),
                sessions,
                throttle,
                api_keys.clone(),
                options.identity.clone(),
                options.oidc_providers.clone(),
                options.secrets.clone(),
            ),
            audit: identity::audit::AuditService::new(db.clone()),
            inventory: inventory::InventoryService::new(db.clone()),
            orders: orders.clone(),
            checkout: checkout::CheckoutService::new(
                db.clone(),
                carts.clone(),
                options.providers.clone(),
                options.files.clone(),
                options.auto_capture.then_some(orders),
            ),
            carts,
            regions: regions::RegionService::new(db.clone(), options.providers.clone()),
            price_lists: price_lists::PriceListService::new(db.clone()),
            promotions: promotions::PromotionService::new(db.clone()),
            webhooks: webhooks::WebhookService::new(
                db.clone(),
                options.webhooks_allow_private,
                options.secrets.clone(),
            ),
            search: search::SearchService::new(
                db.clone(),
                catalog::CatalogService::new(db.clone()),
                inventory::InventoryService::new(db.clone()),
            ),
            catalog: catalog::CatalogService::new(db.clone()),
            api_keys,
            idempotency: idempotency::IdempotencyService::new(db.clone(), options.secrets.clone()),
            jobs: jobs::JobService::new(db.clone()),
            providers: options.providers,
            db,
        }
    }
}
