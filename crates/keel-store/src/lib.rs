//! Keel's data layer: one set of query code for PostgreSQL and SQLite.
//!
//! Queries are built with sea-query and rendered for whichever engine the [`Db`] was opened on,
//! then executed by sqlx with every value bound as a parameter; no repository writes engine-specific
//! SQL. Only the migrations (DDL) exist once per engine, in `migrations/{postgres,sqlite}`.
//!
//! Repositories are plain async functions over a [`Conn`], so the same function runs on a pooled
//! connection for a read or inside a [`Tx`] when a use case changes several tables at once. This
//! crate never knows about HTTP, and holds no business rules beyond what constraints guarantee.

pub mod api_keys;
pub mod carts;
pub mod catalog;
mod db;
mod error;
pub mod idempotency;
pub mod identity;
pub mod inventory;
pub mod jobs;
mod migrate;
pub mod orders;
pub mod outbox;
pub mod price_lists;
pub mod promotions;
pub mod regions;
pub mod schedules;
pub mod shipping;
pub mod tax;
pub mod webhooks;

pub use db::{
    Conn, Db, DbConfig, Engine, EventHook, JOBS_CHANNEL, JobWakeups, Leadership, PoolStats, PooledConn, Record, Tx,
};
pub use error::StoreError;
pub use migrate::{MIGRATION_COUNT, latest_version as latest_migration};

/// A JSON column value (for records that carry one).
pub use sqlx::types::Json as JsonColumn;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
