//! The outbox table: events appended in the change's transaction, read back in `seq` order by
//! the relay, marked published once the bus has them.

use crate::{Conn, Result, StoreError};
use chrono::{DateTime, Utc};
use keel_domain::EventId;
use keel_domain::event::{AggregateRef, Event};
use sea_query::{Expr, ExprTrait, Iden, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum OutboxEvents {
    Table,
    Seq,
    Id,
    EventType,
    Version,
    AggregateType,
    AggregateId,
    Data,
    OccurredAt,
    PublishedAt,
    Traceparent,
}

/// Appends an event in the caller's transaction (and wakes the relay when it commits), with the
/// trace context of the change that caused it.
pub async fn append(c: &mut Conn<'_>, event: &Event, traceparent: Option<&str>) -> Result<()> {
    let stmt = Query::insert()
        .into_table(OutboxEvents::Table)
        .columns([
            OutboxEvents::Id,
            OutboxEvents::EventType,
            OutboxEvents::Version,
            OutboxEvents::AggregateType,
            OutboxEvents::AggregateId,
            OutboxEvents::Data,
            OutboxEvents::OccurredAt,
            OutboxEvents::Traceparent,
        ])
        .values_panic([
            event.id.to_string().into(),
            event.event_type.clone().into(),
            i32::try_from(event.version).unwrap_or(i32::MAX).into(),
            event.aggregate.kind.clone().into(),
            event.aggregate.id.clone().into(),
            event.data.clone().into(),
            event.occurred_at.into(),
            traceparent.map(str::to_string).into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    c.note_event(event);
    c.signal_jobs("outbox").await
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    id: String,
    event_type: String,
    version: i32,
    aggregate_type: String,
    aggregate_id: String,
    data: Json<serde_json::Value>,
    occurred_at: DateTime<Utc>,
    traceparent: Option<String>,
}

/// An event waiting to be published.
#[derive(Debug, Clone)]
pub struct Unpublished {
    pub seq: i64,
    pub event: Event,
    /// The trace context of the change that caused it.
    pub traceparent: Option<String>,
}

/// The columns of an event, in `OutboxRow` order.
fn select_events() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            OutboxEvents::Seq,
            OutboxEvents::Id,
            OutboxEvents::EventType,
            OutboxEvents::Version,
            OutboxEvents::AggregateType,
            OutboxEvents::AggregateId,
            OutboxEvents::Data,
            OutboxEvents::OccurredAt,
            OutboxEvents::Traceparent,
        ])
        .from(OutboxEvents::Table)
        .to_owned()
}

impl OutboxRow {
    fn into_event(self) -> Result<Unpublished> {
        let id = EventId::parse(&self.id).map_err(|_| StoreError::Corrupt(format!("event id {:?}", self.id)))?;
        Ok(Unpublished {
            seq: self.seq,
            event: Event {
                id,
                event_type: self.event_type,
                version: u32::try_from(self.version).unwrap_or(1),
                occurred_at: self.occurred_at,
                aggregate: AggregateRef { kind: self.aggregate_type, id: self.aggregate_id },
                data: self.data.0,
            },
            traceparent: self.traceparent,
        })
    }
}

/// The oldest unpublished events, in the order they were appended.
pub async fn unpublished(c: &mut Conn<'_>, limit: u64) -> Result<Vec<Unpublished>> {
    let q = select_events()
        .and_where(Expr::col(OutboxEvents::PublishedAt).is_null())
        .order_by(OutboxEvents::Seq, Order::Asc)
        .limit(limit)
        .to_owned();
    let rows: Vec<OutboxRow> = c.fetch_all(&q).await?;
    rows.into_iter().map(OutboxRow::into_event).collect()
}

/// Marks events published.
pub async fn mark_published(c: &mut Conn<'_>, seqs: &[i64], at: DateTime<Utc>) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let stmt = Query::update()
        .table(OutboxEvents::Table)
        .value(OutboxEvents::PublishedAt, at)
        .and_where(Expr::col(OutboxEvents::Seq).is_in(seqs.iter().copied()))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// How many events wait to be published (the relay's lag).
pub async fn unpublished_count(c: &mut Conn<'_>) -> Result<i64> {
    let q = Query::select()
        .expr(Expr::col(OutboxEvents::Seq).count())
        .from(OutboxEvents::Table)
        .and_where(Expr::col(OutboxEvents::PublishedAt).is_null())
        .to_owned();
    c.fetch_i64(&q).await
}

/// When the oldest unpublished event occurred (`None`: the relay has caught up).
pub async fn oldest_unpublished(c: &mut Conn<'_>) -> Result<Option<DateTime<Utc>>> {
    let q = select_events()
        .and_where(Expr::col(OutboxEvents::PublishedAt).is_null())
        .order_by(OutboxEvents::Seq, Order::Asc)
        .limit(1)
        .to_owned();
    let row: Option<OutboxRow> = c.fetch_optional(&q).await?;
    Ok(row.map(|r| r.occurred_at))
}

/// One event by id.
pub async fn find(c: &mut Conn<'_>, id: EventId) -> Result<Option<Event>> {
    let q = select_events().and_where(Expr::col(OutboxEvents::Id).eq(id.to_string())).to_owned();
    let row: Option<OutboxRow> = c.fetch_optional(&q).await?;
    row.map(|r| r.into_event().map(|u| u.event)).transpose()
}

/// Every event of an aggregate, oldest first (audit trails, tests).
pub async fn for_aggregate(c: &mut Conn<'_>, kind: &str, id: &str) -> Result<Vec<Event>> {
    let q = select_events()
        .and_where(Expr::col(OutboxEvents::AggregateType).eq(kind))
        .and_where(Expr::col(OutboxEvents::AggregateId).eq(id))
        .order_by(OutboxEvents::Seq, Order::Asc)
        .to_owned();
    let rows: Vec<OutboxRow> = c.fetch_all(&q).await?;
    rows.into_iter().map(|r| r.into_event().map(|u| u.event)).collect()
}
