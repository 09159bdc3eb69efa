//! Idempotency keys: claim a key before running a request, store its response after, replay it
//! for a retry. The claim is an insert that does nothing on conflict, so of two racing requests
//! with one key exactly one runs.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Query};

#[derive(Iden)]
enum IdempotencyKeys {
    Table,
    Scope,
    IdempotencyKey,
    RequestHash,
    Status,
    ContentType,
    ResponseBody,
    CreatedAt,
    CompletedAt,
}

/// A key's stored state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub response_body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Claims `key` in `scope`; returns false when it was already claimed.
pub async fn claim(c: &mut Conn<'_>, scope: &str, key: &str, request_hash: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::insert()
        .into_table(IdempotencyKeys::Table)
        .columns([
            IdempotencyKeys::Scope,
            IdempotencyKeys::IdempotencyKey,
            IdempotencyKeys::RequestHash,
            IdempotencyKeys::CreatedAt,
        ])
        .values_panic([scope.into(), key.into(), request_hash.into(), at.into()])
        .on_conflict(
            OnConflict::columns([IdempotencyKeys::Scope, IdempotencyKeys::IdempotencyKey]).do_nothing().to_owned(),
        )
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn find(c: &mut Conn<'_>, scope: &str, key: &str) -> Result<Option<KeyRecord>> {
    let q = Query::select()
        .columns([
            IdempotencyKeys::RequestHash,
            IdempotencyKeys::Status,
            IdempotencyKeys::ContentType,
            IdempotencyKeys::ResponseBody,
            IdempotencyKeys::CreatedAt,
        ])
        .from(IdempotencyKeys::Table)
        .and_where(Expr::col(IdempotencyKeys::Scope).eq(scope))
        .and_where(Expr::col(IdempotencyKeys::IdempotencyKey).eq(key))
        .to_owned();
    c.fetch_optional(&q).await
}

/// Stores the response of a claimed key.
pub async fn complete(
    c: &mut Conn<'_>,
    scope: &str,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let stmt = Query::update()
        .table(IdempotencyKeys::Table)
        .values([
            (IdempotencyKeys::Status, i32::from(status).into()),
            (IdempotencyKeys::ContentType, content_type.map(str::to_string).into()),
            (IdempotencyKeys::ResponseBody, body.into()),
            (IdempotencyKeys::CompletedAt, at.into()),
        ])
        .and_where(Expr::col(IdempotencyKeys::Scope).eq(scope))
        .and_where(Expr::col(IdempotencyKeys::IdempotencyKey).eq(key))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Forgets a key (its request failed in a way worth retrying, or it expired).
pub async fn release(c: &mut Conn<'_>, scope: &str, key: &str) -> Result<()> {
    let stmt = Query::delete()
        .from_table(IdempotencyKeys::Table)
        .and_where(Expr::col(IdempotencyKeys::Scope).eq(scope))
        .and_where(Expr::col(IdempotencyKeys::IdempotencyKey).eq(key))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Deletes keys created before `before`; returns how many.
pub async fn purge_older_than(c: &mut Conn<'_>, before: DateTime<Utc>) -> Result<u64> {
    let stmt = Query::delete()
        .from_table(IdempotencyKeys::Table)
        .and_where(Expr::col(IdempotencyKeys::CreatedAt).lt(before))
        .to_owned();
    c.execute(&stmt).await
}
