//! Recurring job schedules: one row per schedule with the time it is next due.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, Order, Query};

#[derive(Iden)]
enum JobSchedules {
    Table,
    Name,
    Cron,
    NextRunAt,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub name: String,
    pub cron: String,
    pub next_run_at: DateTime<Utc>,
}

pub async fn find(c: &mut Conn<'_>, name: &str) -> Result<Option<ScheduleRow>> {
    let q = Query::select()
        .columns([JobSchedules::Name, JobSchedules::Cron, JobSchedules::NextRunAt])
        .from(JobSchedules::Table)
        .and_where(Expr::col(JobSchedules::Name).eq(name))
        .to_owned();
    c.fetch_optional(&q).await
}

/// Creates a schedule, or changes its expression (and next time) when it differs; an unchanged
/// schedule keeps its next time, so restarting workers never skips or repeats a period.
pub async fn register(
    c: &mut Conn<'_>,
    name: &str,
    cron: &str,
    next_run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    match find(c, name).await? {
        Some(row) if row.cron == cron => Ok(()),
        Some(_) => {
            let stmt = Query::update()
                .table(JobSchedules::Table)
                .values([
                    (JobSchedules::Cron, cron.into()),
                    (JobSchedules::NextRunAt, next_run_at.into()),
                    (JobSchedules::UpdatedAt, now.into()),
                ])
                .and_where(Expr::col(JobSchedules::Name).eq(name))
                .to_owned();
            c.execute(&stmt).await?;
            Ok(())
        }
        None => {
            let stmt = Query::insert()
                .into_table(JobSchedules::Table)
                .columns([JobSchedules::Name, JobSchedules::Cron, JobSchedules::NextRunAt, JobSchedules::UpdatedAt])
                .values_panic([name.into(), cron.into(), next_run_at.into(), now.into()])
                .on_conflict(sea_query::OnConflict::new().do_nothing().to_owned())
                .to_owned();
            c.execute(&stmt).await?;
            Ok(())
        }
    }
}

/// Schedules among `names` due at `now`, and the earliest time any of them is due.
pub async fn list(c: &mut Conn<'_>, names: &[String]) -> Result<Vec<ScheduleRow>> {
    let q = Query::select()
        .columns([JobSchedules::Name, JobSchedules::Cron, JobSchedules::NextRunAt])
        .from(JobSchedules::Table)
        .and_where(Expr::col(JobSchedules::Name).is_in(names.iter().cloned()))
        .order_by(JobSchedules::NextRunAt, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Moves a schedule from `due` to `next`. Only one caller can win a given `due`: the one whose
/// update finds `next_run_at` still equal to it. Returns whether this caller won.
pub async fn advance(
    c: &mut Conn<'_>,
    name: &str,
    due: DateTime<Utc>,
    next: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(JobSchedules::Table)
        .values([(JobSchedules::NextRunAt, next.into()), (JobSchedules::UpdatedAt, now.into())])
        .and_where(Expr::col(JobSchedules::Name).eq(name))
        .and_where(Expr::col(JobSchedules::NextRunAt).eq(due))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Sets when a schedule is next due (an operator's "run now", or a test).
pub async fn set_next_run(c: &mut Conn<'_>, name: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(JobSchedules::Table)
        .values([(JobSchedules::NextRunAt, at.into()), (JobSchedules::UpdatedAt, now.into())])
        .and_where(Expr::col(JobSchedules::Name).eq(name))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}
