//! Admin API keys, stored as a SHA-256 hash of the secret (the secret itself is never stored).

use crate::{Conn, Result, StoreError};
use chrono::{DateTime, Utc};
use keel_domain::ApiKeyId;
use sea_query::{Expr, ExprTrait, Iden, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    SecretHash,
    Permissions,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub name: String,
    /// The first characters of the secret, shown in lists so an owner can tell keys apart.
    pub prefix: String,
    pub secret_hash: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    name: String,
    prefix: String,
    secret_hash: String,
    permissions: Json<Vec<String>>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(c: &mut Conn<'_>, key: &ApiKeyRecord) -> Result<()> {
    let stmt = Query::insert()
        .into_table(ApiKeys::Table)
        .columns([
            ApiKeys::Id,
            ApiKeys::Name,
            ApiKeys::Prefix,
            ApiKeys::SecretHash,
            ApiKeys::Permissions,
            ApiKeys::CreatedAt,
        ])
        .values_panic([
            key.id.to_string().into(),
            key.name.clone().into(),
            key.prefix.clone().into(),
            key.secret_hash.clone().into(),
            serde_json::json!(key.permissions).into(),
            key.created_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

fn select() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            ApiKeys::Id,
            ApiKeys::Name,
            ApiKeys::Prefix,
            ApiKeys::SecretHash,
            ApiKeys::Permissions,
            ApiKeys::CreatedAt,
            ApiKeys::LastUsedAt,
            ApiKeys::RevokedAt,
        ])
        .from(ApiKeys::Table)
        .to_owned()
}

fn record(r: ApiKeyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&r.id).map_err(|_| StoreError::Corrupt(format!("api key id {:?}", r.id)))?,
        name: r.name,
        prefix: r.prefix,
        secret_hash: r.secret_hash,
        permissions: r.permissions.0,
        created_at: r.created_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
    })
}

/// Finds a key that is not revoked by the hash of its secret.
pub async fn find_active_by_hash(c: &mut Conn<'_>, secret_hash: &str) -> Result<Option<ApiKeyRecord>> {
    let q = select()
        .and_where(Expr::col(ApiKeys::SecretHash).eq(secret_hash))
        .and_where(Expr::col(ApiKeys::RevokedAt).is_null())
        .to_owned();
    c.fetch_optional::<ApiKeyRow>(&q).await?.map(record).transpose()
}

pub async fn find(c: &mut Conn<'_>, id: ApiKeyId) -> Result<Option<ApiKeyRecord>> {
    let q = select().and_where(Expr::col(ApiKeys::Id).eq(id.to_string())).to_owned();
    c.fetch_optional::<ApiKeyRow>(&q).await?.map(record).transpose()
}

/// Every key, newest first.
pub async fn list(c: &mut Conn<'_>) -> Result<Vec<ApiKeyRecord>> {
    let q = select().order_by(ApiKeys::Id, sea_query::Order::Desc).to_owned();
    c.fetch_all::<ApiKeyRow>(&q).await?.into_iter().map(record).collect()
}

/// Marks a key revoked (once; a revoked key keeps its first revocation time).
pub async fn revoke(c: &mut Conn<'_>, id: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(ApiKeys::Table)
        .value(ApiKeys::RevokedAt, at)
        .and_where(Expr::col(ApiKeys::Id).eq(id.to_string()))
        .and_where(Expr::col(ApiKeys::RevokedAt).is_null())
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Records that a key was used (at most once a minute per key, to spare the write).
pub async fn mark_used(c: &mut Conn<'_>, id: ApiKeyId, at: DateTime<Utc>) -> Result<()> {
    let stmt = Query::update()
        .table(ApiKeys::Table)
        .value(ApiKeys::LastUsedAt, at)
        .and_where(Expr::col(ApiKeys::Id).eq(id.to_string()))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}
