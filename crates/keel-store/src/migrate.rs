//! Versioned migrations, embedded in the binary: one SQL file per version and engine.
//!
//! The two engines' files of a version must describe the same schema; only the DDL dialect
//! differs (JSONB/TEXT, TIMESTAMPTZ/TEXT). A test applies both and checks the table lists agree.
//!
//! A binary starts on a database that a newer release has already migrated (its migrations are
//! applied ones this binary does not know): during a rolling deployment the previous release's
//! nodes keep starting — restarts, scale-ups — after the new release's expand step. Every
//! migration must therefore leave the schema usable by the release before it (docs/DEPLOY.md,
//! "expand, then contract"); one that cannot (a contract step) ships a release after the code
//! stopped needing what it removes. Only that case is let through ([`check_applied`]): versions
//! unknown to this binary must all be newer than its own, and its own must all be applied.

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// (version, description, PostgreSQL SQL, SQLite SQL)
type Entry = (i64, &'static str, &'static str, &'static str);

const MIGRATIONS: &[Entry] = &[
    (
        1,
        "catalog",
        include_str!("../migrations/postgres/0001_catalog.sql"),
        include_str!("../migrations/sqlite/0001_catalog.sql"),
    ),
    (
        2,
        "idempotency",
        include_str!("../migrations/postgres/0002_idempotency.sql"),
        include_str!("../migrations/sqlite/0002_idempotency.sql"),
    ),
    (
        3,
        "jobs",
        include_str!("../migrations/postgres/0003_jobs.sql"),
        include_str!("../migrations/sqlite/0003_jobs.sql"),
    ),
    (
        4,
        "job schedules",
        include_str!("../migrations/postgres/0004_job_schedules.sql"),
        include_str!("../migrations/sqlite/0004_job_schedules.sql"),
    ),
    (
        5,
        "outbox",
        include_str!("../migrations/postgres/0005_outbox.sql"),
        include_str!("../migrations/sqlite/0005_outbox.sql"),
    ),
    (
        6,
        "webhooks",
        include_str!("../migrations/postgres/0006_webhooks.sql"),
        include_str!("../migrations/sqlite/0006_webhooks.sql"),
    ),
    (
        7,
        "identity",
        include_str!("../migrations/postgres/0007_identity.sql"),
        include_str!("../migrations/sqlite/0007_identity.sql"),
    ),
    (
        8,
        "regions and inventory",
        include_str!("../migrations/postgres/0008_regions_inventory.sql"),
        include_str!("../migrations/sqlite/0008_regions_inventory.sql"),
    ),
    (
        9,
        "carts",
        include_str!("../migrations/postgres/0009_carts.sql"),
        include_str!("../migrations/sqlite/0009_carts.sql"),
    ),
    (
        10,
        "shipping",
        include_str!("../migrations/postgres/0010_shipping.sql"),
        include_str!("../migrations/sqlite/0010_shipping.sql"),
    ),
    (
        11,
        "tax rates",
        include_str!("../migrations/postgres/0011_tax_rates.sql"),
        include_str!("../migrations/sqlite/0011_tax_rates.sql"),
    ),
    (
        12,
        "price lists and promotions",
        include_str!("../migrations/postgres/0012_price_lists_promotions.sql"),
        include_str!("../migrations/sqlite/0012_price_lists_promotions.sql"),
    ),
    (
        13,
        "fulfillment providers",
        include_str!("../migrations/postgres/0013_provider_options.sql"),
        include_str!("../migrations/sqlite/0013_provider_options.sql"),
    ),
    (
        14,
        "orders and checkouts",
        include_str!("../migrations/postgres/0014_orders.sql"),
        include_str!("../migrations/sqlite/0014_orders.sql"),
    ),
    (
        15,
        "fulfillments and refunds",
        include_str!("../migrations/postgres/0015_fulfillments_refunds.sql"),
        include_str!("../migrations/sqlite/0015_fulfillments_refunds.sql"),
    ),
    (
        16,
        "catalog list index",
        include_str!("../migrations/postgres/0016_catalog_list_index.sql"),
        include_str!("../migrations/sqlite/0016_catalog_list_index.sql"),
    ),
    (
        17,
        "trace context on jobs and events",
        include_str!("../migrations/postgres/0017_trace_context.sql"),
        include_str!("../migrations/sqlite/0017_trace_context.sql"),
    ),
];

pub const MIGRATION_COUNT: usize = MIGRATIONS.len();

fn migrator(pick: impl Fn(&Entry) -> &'static str) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|m| Migration::new(m.0, Cow::Borrowed(m.1), MigrationType::Simple, SqlStr::from_static(pick(m)), false))
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: true, ..Migrator::DEFAULT }
}

/// The newest migration this binary knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Whether this binary may run on a database where `applied` are the migrations done: `Ok` with
/// the versions a newer release applied (above all of this binary's), or why not.
pub(crate) fn check_applied(applied: &[i64]) -> Result<Vec<i64>, String> {
    let latest = latest_version();
    let known = |v: &i64| MIGRATIONS.iter().any(|m| m.0 == *v);
    let mut newer: Vec<i64> = applied.iter().copied().filter(|v| !known(v)).collect();
    newer.sort_unstable();
    if let Some(other) = newer.iter().find(|v| **v <= latest) {
        return Err(format!(
            "it has migration {other}, unknown to this binary though older than its newest ({latest}): it was migrated by another build"
        ));
    }
    if let (Some(first), Some(missing)) = (newer.first(), MIGRATIONS.iter().find(|m| !applied.contains(&m.0))) {
        return Err(format!(
            "it has a newer release's migrations (from {first}) but not this binary's migration {} ({})",
            missing.0, missing.1
        ));
    }
    Ok(newer)
}

pub(crate) fn postgres() -> Migrator {
    migrator(|m| m.2)
}

pub(crate) fn sqlite() -> Migrator {
    migrator(|m| m.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_releases_migrations_on_top_of_all_of_ours_are_let_through() {
        let ours: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        let latest = latest_version();
        assert_eq!(check_applied(&ours), Ok(vec![]));
        assert_eq!(check_applied(&ours[..3]), Ok(vec![]), "a database behind this binary is migrated forward");
        assert_eq!(check_applied(&[]), Ok(vec![]));
        let newer = [ours.clone(), vec![latest + 2, latest + 1]].concat();
        assert_eq!(check_applied(&newer), Ok(vec![latest + 1, latest + 2]));

        let another_build = [ours.clone(), vec![0]].concat();
        assert!(check_applied(&another_build).unwrap_err().contains("another build"));
        let missing_ours = [ours[..ours.len() - 1].to_vec(), vec![latest + 1]].concat();
        assert!(check_applied(&missing_ours).unwrap_err().contains(&format!("migration {latest}")));
    }
}
