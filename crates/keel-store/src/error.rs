//! The store's one error type. Database errors that carry meaning (a unique key taken, a referenced
//! row missing) are recognised here, in one place, for both engines.

/// Unique constraints the services turn into precise 409 answers: (PostgreSQL constraint name,
/// SQLite `table.column` target, stable key reported upwards).
const UNIQUE_KEYS: &[(&str, &str, &str)] = &[
    ("products_handle_key", "products.handle", "product.handle"),
    ("product_variants_sku_key", "product_variants.sku", "variant.sku"),
    ("categories_handle_key", "categories.handle", "category.handle"),
    ("collections_handle_key", "collections.handle", "collection.handle"),
    ("product_options_name_key", "product_options.product_id, product_options.name", "option.name"),
    ("stock_locations_code_key", "stock_locations.code", "stock_location.code"),
    ("api_keys_secret_hash_key", "api_keys.secret_hash", "api_key.secret"),
    ("customers_email_key", "customers.email", "customer.email"),
    ("region_countries_pkey", "region_countries.country_code", "region.country"),
    ("cart_lines_variant_key", "cart_lines.cart_id, cart_lines.variant_id", "cart_line.variant"),
    ("staff_users_email_key", "staff_users.email", "staff.email"),
    ("roles_pkey", "roles.name", "role.name"),
    ("customer_groups_name_key", "customer_groups.name", "customer_group.name"),
    ("promotions_code_key", "promotions.code", "promotion.code"),
    ("orders_cart_key", "orders.cart_id", "order.cart"),
    ("checkouts_key", "checkouts.cart_id, checkouts.idempotency_key", "checkout.key"),
    ("staff_identities_pkey", "staff_identities.provider, staff_identities.subject", "staff.identity"),
    (
        "webhook_deliveries_event_key",
        "webhook_deliveries.endpoint_id, webhook_deliveries.event_id",
        "webhook_delivery.event",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is already taken; `key` is one of the stable names above (e.g. `product.handle`).
    #[error("unique key {key} is already taken")]
    Conflict { key: &'static str },
    /// A foreign key points at a row that does not exist (or a row still referenced was deleted).
    #[error("a referenced row does not exist or is still referenced")]
    ForeignKey,
    /// A stored value could not be read back into a domain type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database's migrations do not fit this binary (made by another build).
    #[error("this binary cannot run on this database: {0}")]
    Schema(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    let constraint = db.constraint().unwrap_or_default();
                    let message = db.message();
                    let known = UNIQUE_KEYS
                        .iter()
                        .find(|(pg, sqlite, _)| constraint == *pg || message.ends_with(&format!("failed: {sqlite}")));
                    if let Some((_, _, key)) = known {
                        return StoreError::Conflict { key };
                    }
                }
                if db.is_foreign_key_violation() {
                    return StoreError::ForeignKey;
                }
                StoreError::Database(err)
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(err),
            _ => StoreError::Database(err),
        }
    }
}
