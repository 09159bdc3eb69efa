//! Configuration: defaults, then an optional TOML file, then `KEEL_*` environment variables.
//!
//! With neither file nor variables Keel runs on a SQLite file in `./data`, listening on
//! 127.0.0.1:8080. A bad value fails start-up with a message naming the key.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
pub use keel_platform::trace::LogFormat;
use keel_services::DbConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every setting, with its environment variable in the doc comment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `KEEL_ADDR`: where to listen.
    pub addr: String,
    /// `KEEL_DATA_DIR`: where the SQLite file (and later the search index) live.
    pub data_dir: PathBuf,
    /// `KEEL_DATABASE_URL`: `postgres://…` for PostgreSQL, `sqlite://path` or absent for SQLite.
    pub database_url: Option<String>,
    /// `KEEL_DB_MAX_CONNECTIONS`: pool size (the SQLite read pool; its writer is always one).
    pub db_max_connections: u32,
    /// `KEEL_DB_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a pooled connection.
    pub db_acquire_timeout_secs: u64,
    /// `KEEL_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `KEEL_LOG`: a tracing filter such as `info` or `keel=debug,sqlx=warn`.
    pub log: String,
    /// `KEEL_METRICS_ADDR`: a worker (which serves no API) answers `/healthz` and `/metrics`
    /// here, for probes and Prometheus (api nodes serve both on `KEEL_ADDR`).
    pub metrics_addr: Option<String>,
    /// `KEEL_OTLP_ENDPOINT`: export traces to this OpenTelemetry collector over OTLP/HTTP
    /// (protobuf), e.g. `http://collector:4318` (absent: no export).
    pub otlp_endpoint: Option<String>,
    /// `KEEL_TRACE_FILTER`: which spans are exported, as a tracing filter (the default includes
    /// one span per SQL statement).
    pub trace_filter: String,
    /// `KEEL_SERVICE_NAME`: the OpenTelemetry `service.name` of this process's spans.
    pub service_name: String,
    /// `KEEL_CORS_ORIGINS`: comma-separated allowed origins, `*` for any, empty for none.
    pub cors_origins: String,
    /// `KEEL_BODY_LIMIT_BYTES`: largest accepted request body.
    pub body_limit_bytes: usize,
    /// `KEEL_REQUEST_TIMEOUT_SECS`: a request still running after this gets a 503.
    pub request_timeout_secs: u64,
    /// `KEEL_CATALOG_MAX_AGE_SECS`: `Cache-Control: max-age` of public catalog responses.
    pub catalog_max_age_secs: u32,
    /// `KEEL_CATALOG_S_MAXAGE_SECS`: `Cache-Control: s-maxage` of public catalog responses (how
    /// long a CDN or shared proxy may keep them; purge them by `Surrogate-Key` for sooner).
    pub catalog_s_maxage_secs: u32,
    /// `KEEL_CACHE_MAX_BYTES`: memory for the in-process response cache (0 turns it off).
    pub cache_max_bytes: u64,
    /// `KEEL_CACHE_TTL_SECS`: the longest a cached answer lives (events drop it sooner).
    pub cache_ttl_secs: u64,
    /// `KEEL_RATE_LIMITS`: limit how often each client calls the API.
    pub rate_limits: bool,
    /// `KEEL_RATE_LIMIT_DEFAULT`: API calls per credential (or client address), `LIMIT/SECONDS`.
    pub rate_limit_default: String,
    /// `KEEL_RATE_LIMIT_AUTH`: sign-ins, registrations and password resets per client address.
    pub rate_limit_auth: String,
    /// `KEEL_RATE_LIMIT_CHECKOUT`: checkouts per customer (or client address).
    pub rate_limit_checkout: String,
    /// `KEEL_TRUSTED_PROXIES`: comma-separated addresses or ranges (`10.0.0.0/8`) of proxies whose
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: String,
    /// `KEEL_GRAPHQL_INTROSPECTION`: let GraphQL clients read the schema (`__schema`, `__type`).
    pub graphql_introspection: bool,
    /// `KEEL_GRAPHQL_MAX_DEPTH`: how deeply a GraphQL query may nest fields.
    pub graphql_max_depth: usize,
    /// `KEEL_GRAPHQL_MAX_COMPLEXITY`: the most fields a GraphQL query may select (a list field
    /// counts its page size times its fields).
    pub graphql_max_complexity: usize,
    /// `KEEL_GRAPHQL_MAX_ALIASES`: the most aliases a GraphQL query may use.
    pub graphql_max_aliases: usize,
    /// `KEEL_GRAPHQL_MAX_BODY_BYTES`: the largest GraphQL request body.
    pub graphql_max_body_bytes: usize,
    /// `KEEL_SHUTDOWN_GRACE_SECS`: how long in-flight requests may finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// `KEEL_DEMO_SEED`: fill an empty database with the demo catalog at start.
    pub demo_seed: bool,
    /// `KEEL_ADMIN_PANEL`: serve the admin panel at `/admin`.
    pub admin_panel: bool,
    /// `KEEL_STOREFRONT`: serve the demo storefront at `/demo`.
    pub storefront: bool,
    /// `KEEL_WORKER_CONCURRENCY`: jobs of one queue a worker runs at once.
    pub worker_concurrency: usize,
    /// `KEEL_WORKER_LEASE_SECS`: how long a claimed job stays a worker's without a heartbeat.
    pub worker_lease_secs: u64,
    /// `KEEL_WORKER_POLL_SECS`: the slow poll between wake-ups when the queue is idle.
    pub worker_poll_secs: u64,
    /// `KEEL_NATS_URL`: publish events to NATS JetStream (absent: the in-process bus).
    pub nats_url: Option<String>,
    /// `KEEL_NATS_STREAM`: the JetStream stream holding Keel's events.
    pub nats_stream: String,
    /// `KEEL_NATS_SUBJECT_PREFIX`: events go to `{prefix}.{event type}`.
    pub nats_subject_prefix: String,
    /// `KEEL_REDIS_URL`: `redis://host:port/db` shared by every api node: the response cache's
    /// second tier and the rate limits' counts (absent: each node keeps its own in memory).
    pub redis_url: Option<String>,
    /// `KEEL_REDIS_PREFIX`: put before every Redis key (one Redis for several shops).
    pub redis_prefix: String,
    /// `KEEL_REDIS_TIMEOUT_MS`: a Redis call taking longer counts as failed (the node then uses
    /// its in-process state for a second before trying again).
    pub redis_timeout_ms: u64,
    /// `KEEL_WEBHOOKS_ALLOW_PRIVATE`: let webhooks target private and loopback addresses.
    pub webhooks_allow_private: bool,
    /// `KEEL_SMTP_URL`: send mail over SMTP (absent: `.eml` files in `{data_dir}/mail`).
    pub smtp_url: Option<String>,
    /// `KEEL_MAIL_FROM`: the sender of Keel's mail.
    pub mail_from: String,
    /// `KEEL_PUBLIC_URL`: where shoppers and staff reach Keel (links in emails start with it).
    pub public_url: String,
    /// `KEEL_TLS_CERT` and `KEEL_TLS_KEY`: PEM files; with both set Keel serves HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `KEEL_ACCESS_TOKEN_TTL_SECS`: lifetime of access tokens (customers and staff).
    pub access_token_ttl_secs: i64,
    /// `KEEL_CUSTOMER_REFRESH_TTL_SECS`: lifetime of customers' refresh tokens.
    pub customer_refresh_ttl_secs: i64,
    /// `KEEL_STAFF_REFRESH_TTL_SECS`: lifetime of staff refresh tokens.
    pub staff_refresh_ttl_secs: i64,
    /// `KEEL_LOGIN_MAX_FAILURES`: failed sign-ins of one account before it locks.
    pub login_max_failures: i32,
    /// `KEEL_LOGIN_MAX_FAILURES_PER_ADDRESS`: failed sign-ins from one client address before it locks.
    pub login_max_failures_per_address: i32,
    /// `KEEL_LOGIN_LOCK_SECS`: the first lock; each further failure doubles it (up to 15 minutes).
    pub login_lock_secs: i64,
    /// `KEEL_SECRET_KEY`: 32 random bytes in base64 that seal secrets stored in the database.
    /// Absent: a key file made in the data directory on first start (one node only).
    pub secret_key: Option<String>,
    /// `KEEL_SECRET_KEYS_PREVIOUS`: comma-separated earlier keys, still accepted for opening.
    pub secret_keys_previous: String,
    /// `KEEL_PAYSIM_URL`: the payment simulator to use (absent: one embedded in this process,
    /// on a loopback port, so the demo checkout works with no set-up).
    pub paysim_url: Option<String>,
    /// `KEEL_PAYSIM_SECRET_KEY`: the simulator's API key.
    pub paysim_secret_key: String,
    /// `KEEL_MANUAL_PAYMENTS`: offer the `manual` payment provider (pay on invoice or delivery).
    pub manual_payments: bool,
    /// `KEEL_AUTO_CAPTURE`: capture payments when the order is placed (default: staff capture).
    pub auto_capture: bool,
    /// `KEEL_CHECKOUT_STALL_SECS`: a checkout unfinished this long was interrupted by a crash;
    /// the worker then voids its payment and releases its stock.
    pub checkout_stall_secs: i64,
    /// OpenID providers for staff sign-in (`[[oidc_providers]]` tables in the config file).
    pub oidc_providers: Vec<keel_services::oidc::OidcProviderConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            db_max_connections: 16,
            db_acquire_timeout_secs: 5,
            log_format: LogFormat::Text,
            log: "info,sqlx=warn,tower_http=warn".into(),
            otlp_endpoint: None,
            metrics_addr: None,
            trace_filter: "info,keel_store=debug,keel_api::cache=debug,sqlx=off".into(),
            service_name: "keel".into(),
            cors_origins: String::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            catalog_max_age_secs: 60,
            catalog_s_maxage_secs: 300,
            cache_max_bytes: 32 * 1024 * 1024,
            cache_ttl_secs: 300,
            rate_limits: true,
            rate_limit_default: "1200/60".into(),
            rate_limit_auth: "20/60".into(),
            rate_limit_checkout: "30/60".into(),
            trusted_proxies: String::new(),
            graphql_introspection: true,
            graphql_max_depth: keel_api::graphql::GraphqlConfig::default().max_depth,
            graphql_max_complexity: keel_api::graphql::GraphqlConfig::default().max_complexity,
            graphql_max_aliases: keel_api::graphql::GraphqlConfig::default().max_aliases,
            graphql_max_body_bytes: keel_api::graphql::GraphqlConfig::default().max_body_bytes,
            shutdown_grace_secs: 30,
            demo_seed: true,
            admin_panel: true,
            storefront: true,
            worker_concurrency: 4,
            worker_lease_secs: 30,
            worker_poll_secs: 5,
            nats_url: None,
            nats_stream: "KEEL_EVENTS".into(),
            nats_subject_prefix: "keel.events".into(),
            redis_url: None,
            redis_prefix: "keel:".into(),
            redis_timeout_ms: 100,
            webhooks_allow_private: false,
            smtp_url: None,
            mail_from: "Keel <no-reply@keel.localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            paysim_url: None,
            paysim_secret_key: "sk_test_paysim".into(),
            checkout_stall_secs: 120,
            auto_capture: false,
            manual_payments: false,
            tls_cert: None,
            tls_key: None,
            access_token_ttl_secs: 15 * 60,
            customer_refresh_ttl_secs: 30 * 24 * 3600,
            staff_refresh_ttl_secs: 12 * 3600,
            login_max_failures: 5,
            login_max_failures_per_address: 20,
            login_lock_secs: 30,
            secret_key: None,
            secret_keys_previous: String::new(),
            oidc_providers: Vec::new(),
        }
    }
}

/// The `KEEL_*` variables that are settings (others, such as test switches, are left alone).
const ENV_KEYS: &[&str] = &[
    "addr",
    "data_dir",
    "database_url",
    "db_max_connections",
    "db_acquire_timeout_secs",
    "log_format",
    "log",
    "otlp_endpoint",
    "metrics_addr",
    "trace_filter",
    "service_name",
    "cors_origins",
    "body_limit_bytes",
    "request_timeout_secs",
    "catalog_max_age_secs",
    "catalog_s_maxage_secs",
    "cache_max_bytes",
    "cache_ttl_secs",
    "rate_limits",
    "rate_limit_default",
    "rate_limit_auth",
    "rate_limit_checkout",
    "trusted_proxies",
    "graphql_introspection",
    "graphql_max_depth",
    "graphql_max_complexity",
    "graphql_max_aliases",
    "graphql_max_body_bytes",
    "shutdown_grace_secs",
    "demo_seed",
    "admin_panel",
    "storefront",
    "worker_concurrency",
    "worker_lease_secs",
    "worker_poll_secs",
    "nats_url",
    "nats_stream",
    "nats_subject_prefix",
    "redis_url",
    "redis_prefix",
    "redis_timeout_ms",
    "webhooks_allow_private",
    "smtp_url",
    "mail_from",
    "public_url",
    "tls_cert",
    "tls_key",
    "access_token_ttl_secs",
    "customer_refresh_ttl_secs",
    "staff_refresh_ttl_secs",
    "login_max_failures",
    "login_max_failures_per_address",
    "login_lock_secs",
    "secret_key",
    "secret_keys_previous",
    "paysim_url",
    "paysim_secret_key",
    "checkout_stall_secs",
    "auto_capture",
    "manual_payments",
];

impl Config {
    /// Loads defaults ← `file` (if given, or `./keel.toml` if present) ← `KEEL_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("keel.toml").exists() => figment = figment.merge(Toml::file("keel.toml")),
            None => {}
        }
        figment = figment
            .merge(Env::prefixed("KEEL_").filter(|key| ENV_KEYS.iter().any(|k| key.as_str().eq_ignore_ascii_case(k))));
        let mut config: Config = figment.extract().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        // An optional address set to nothing (`KEEL_OTLP_ENDPOINT=` from a template) is unset.
        for value in [
            &mut config.database_url,
            &mut config.otlp_endpoint,
            &mut config.metrics_addr,
            &mut config.nats_url,
            &mut config.redis_url,
            &mut config.smtp_url,
            &mut config.secret_key,
            &mut config.paysim_url,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.socket_addr()?;
        self.rate_limits()?;
        self.trusted_proxies()?;
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite://"))
        {
            bail!(
                "invalid configuration: KEEL_DATABASE_URL (database_url) must start with postgres://, postgresql:// or sqlite://"
            );
        }
        if let Some(url) = &self.redis_url
            && (!url.starts_with("redis://") || keel_platform::redis::check_url(url).is_err())
        {
            bail!("invalid configuration: KEEL_REDIS_URL (redis_url) must be a redis://host:port/db address");
        }
        if let Some(addr) = &self.metrics_addr
            && addr.parse::<SocketAddr>().is_err()
        {
            bail!("invalid configuration: KEEL_METRICS_ADDR (metrics_addr) must be an address such as 0.0.0.0:9090");
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            keel_platform::trace::traces_url(endpoint).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        }
        if tracing_subscriber::EnvFilter::try_new(&self.trace_filter).is_err() {
            bail!("invalid configuration: KEEL_TRACE_FILTER (trace_filter) is not a tracing filter");
        }
        if self.redis_timeout_ms == 0 {
            bail!("invalid configuration: KEEL_REDIS_TIMEOUT_MS (redis_timeout_ms) must be at least 1");
        }
        if self.db_max_connections == 0 {
            bail!("invalid configuration: KEEL_DB_MAX_CONNECTIONS (db_max_connections) must be at least 1");
        }
        if self.worker_concurrency == 0 || self.worker_lease_secs < 3 || self.worker_poll_secs == 0 {
            bail!(
                "invalid configuration: KEEL_WORKER_CONCURRENCY must be at least 1, KEEL_WORKER_LEASE_SECS at least 3 and KEEL_WORKER_POLL_SECS at least 1"
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("invalid configuration: KEEL_TLS_CERT (tls_cert) and KEEL_TLS_KEY (tls_key) go together");
        }
        if self.access_token_ttl_secs < 60 || self.customer_refresh_ttl_secs < 60 || self.staff_refresh_ttl_secs < 60 {
            bail!("invalid configuration: token lifetimes (KEEL_*_TTL_SECS) must be at least 60 seconds");
        }
        if self.login_max_failures < 1 || self.login_max_failures_per_address < 1 || self.login_lock_secs < 1 {
            bail!(
                "invalid configuration: KEEL_LOGIN_MAX_FAILURES, KEEL_LOGIN_MAX_FAILURES_PER_ADDRESS and KEEL_LOGIN_LOCK_SECS must be at least 1"
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.oidc_providers {
            let slug =
                !p.name.is_empty() && p.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !slug || !names.insert(p.name.clone()) {
                bail!("invalid configuration: oidc_providers name {:?} must be a unique lower-case slug", p.name);
            }
        }
        if self.request_timeout_secs == 0 {
            bail!("invalid configuration: KEEL_REQUEST_TIMEOUT_SECS (request_timeout_secs) must be at least 1");
        }
        Ok(())
    }

    pub fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        self.addr.parse().with_context(|| {
            format!("invalid configuration: KEEL_ADDR (addr) {:?} is not a host:port such as 127.0.0.1:8080", self.addr)
        })
    }

    pub fn db(&self) -> DbConfig {
        let (url, sqlite_path) = match self.database_url.as_deref() {
            Some(url) if url.starts_with("sqlite://") => (None, PathBuf::from(&url["sqlite://".len()..])),
            Some(url) => (Some(url.to_string()), PathBuf::new()),
            None => (None, self.data_dir.join("keel.db")),
        };
        DbConfig {
            url,
            sqlite_path,
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
        }
    }

    pub fn worker(&self) -> keel_worker::WorkerConfig {
        keel_worker::WorkerConfig {
            lease: Duration::from_secs(self.worker_lease_secs),
            poll_interval: Duration::from_secs(self.worker_poll_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ..keel_worker::WorkerConfig::default()
        }
    }

    /// The event bus configuration: NATS when `KEEL_NATS_URL` is set, otherwise in-process.
    pub fn nats(&self) -> Option<keel_platform::bus::NatsConfig> {
        self.nats_url.as_ref().map(|url| keel_platform::bus::NatsConfig {
            url: url.clone(),
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            publish_timeout: Duration::from_secs(5),
        })
    }

    /// Redis when `KEEL_REDIS_URL` is set (it connects on first use: a node starts while Redis is
    /// down).
    pub fn redis(&self) -> Option<keel_platform::redis::Redis> {
        let url = self.redis_url.as_ref()?;
        // Checked by `validate` when the configuration was loaded.
        keel_platform::redis::check_url(url).ok()?;
        keel_platform::redis::Redis::connect(&keel_platform::redis::RedisConfig {
            url: url.clone(),
            prefix: self.redis_prefix.clone(),
            timeout: Duration::from_millis(self.redis_timeout_ms),
        })
        .inspect_err(|e| tracing::error!(error = %e, "cannot use KEEL_REDIS_URL: each node keeps its own state"))
        .ok()
    }

    pub fn api(&self) -> keel_api::ApiConfig {
        keel_api::ApiConfig {
            body_limit_bytes: self.body_limit_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            cors_origins: self
                .cors_origins
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            catalog_max_age_secs: self.catalog_max_age_secs,
            catalog_s_maxage_secs: self.catalog_s_maxage_secs,
            cache: keel_platform::cache::CacheConfig {
                max_bytes: self.cache_max_bytes,
                ttl: Duration::from_secs(self.cache_ttl_secs.max(1)),
            },
            // Checked by `validate` when the configuration was loaded.
            rate_limits: self.rate_limits().unwrap_or_default(),
            trusted_proxies: self.trusted_proxies().unwrap_or_default(),
            tls: self.tls_cert.is_some(),
            graphql: keel_api::graphql::GraphqlConfig {
                introspection: self.graphql_introspection,
                max_depth: self.graphql_max_depth,
                max_complexity: self.graphql_max_complexity,
                max_aliases: self.graphql_max_aliases,
                max_body_bytes: self.graphql_max_body_bytes,
                ..Default::default()
            },
            redis: self.redis(),
            event_bus: None,
            admin_panel: self.admin_panel,
            storefront: self.storefront,
            secure_cookies: self.tls_cert.is_some() || self.public_url.starts_with("https://"),
        }
    }

    /// This node's search index: `{data_dir}/search`.
    pub fn search_dir(&self) -> PathBuf {
        self.data_dir.join("search")
    }

    /// The rate limits (`None` when off).
    pub fn rate_limits(&self) -> anyhow::Result<Option<keel_api::ratelimit::RateLimits>> {
        if !self.rate_limits {
            return Ok(None);
        }
        let quota = |key: &str, text: &str| {
            keel_platform::ratelimit::Quota::parse(text)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {key}: {e}"))
        };
        Ok(Some(keel_api::ratelimit::RateLimits {
            default: quota("KEEL_RATE_LIMIT_DEFAULT (rate_limit_default)", &self.rate_limit_default)?,
            auth: quota("KEEL_RATE_LIMIT_AUTH (rate_limit_auth)", &self.rate_limit_auth)?,
            checkout: quota("KEEL_RATE_LIMIT_CHECKOUT (rate_limit_checkout)", &self.rate_limit_checkout)?,
        }))
    }

    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<keel_api::ratelimit::IpRange>> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                keel_api::ratelimit::IpRange::parse(s)
                    .map_err(|e| anyhow::anyhow!("invalid configuration: KEEL_TRUSTED_PROXIES (trusted_proxies): {e}"))
            })
            .collect()
    }

    /// The box that seals stored secrets: the configured key, or the data directory's key file.
    pub fn secrets(&self) -> anyhow::Result<keel_platform::secrets::SecretBox> {
        let previous: Vec<String> =
            self.secret_keys_previous.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        keel_platform::secrets::SecretBox::configure(self.secret_key.as_deref(), &previous, &self.data_dir)
            .map_err(|e| anyhow::anyhow!("invalid configuration: KEEL_SECRET_KEY (secret_key): {e}"))
    }

    /// Token lifetimes, throttling and link base for the identity services.
    pub fn identity(&self) -> keel_services::identity::IdentityOptions {
        use chrono::Duration;
        let defaults = keel_services::identity::IdentityOptions::default();
        keel_services::identity::IdentityOptions {
            access_ttl: Duration::seconds(self.access_token_ttl_secs),
            customer_refresh_ttl: Duration::seconds(self.customer_refresh_ttl_secs),
            staff_refresh_ttl: Duration::seconds(self.staff_refresh_ttl_secs),
            throttle: keel_services::identity::throttle::ThrottleOptions {
                account_failures: self.login_max_failures,
                address_failures: self.login_max_failures_per_address,
                base_lock: Duration::seconds(self.login_lock_secs),
                ..defaults.throttle.clone()
            },
            public_url: self.public_url.trim_end_matches('/').to_string(),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file_or_environment() {
        let c = Config::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.db().sqlite_path, PathBuf::from("./data/keel.db"));
    }

    #[test]
    fn a_bad_address_names_the_key() {
        let c = Config { addr: "nowhere".into(), ..Config::default() };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("KEEL_ADDR"), "{err}");
    }

    #[test]
    fn a_bad_database_url_names_the_key() {
        let c = Config { database_url: Some("mysql://x".into()), ..Config::default() };
        assert!(c.validate().unwrap_err().to_string().contains("KEEL_DATABASE_URL"));
    }

    #[test]
    fn a_mistyped_file_value_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(&path, "db_max_connections = \"many\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("db_max_connections"), "{err}");
    }
}
