//! Admin API keys: created from the CLI, presented as `Authorization: Bearer keel_sk_…`.
//!
//! A key's secret has 256 random bits and is shown once, at creation; the database keeps only
//! its SHA-256 digest. A high-entropy secret needs no slow hash: the digest cannot be reversed,
//! and looking a key up by digest leaks nothing useful through timing.

use crate::identity::staff::ApiKeyInfo;
use crate::identity::{Actor, Principal, digest, new_secret};
use crate::{Result, ServiceError, now};
use keel_domain::ApiKeyId;
use keel_domain::permission::Grant;
use keel_store::{Db, api_keys as repo};

pub const SECRET_PREFIX: &str = "keel_sk_";

/// A freshly created key: the only moment its secret is known.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub secret: String,
    pub grant: Grant,
}

fn info_of(r: repo::ApiKeyRecord) -> ApiKeyInfo {
    ApiKeyInfo {
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        permissions: r.permissions,
        created_at: r.created_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
    }
}

#[derive(Clone)]
pub struct ApiKeyService {
    db: Db,
}

impl ApiKeyService {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates a key. No permissions means every permission.
    pub async fn create(&self, name: &str, permissions: &[String]) -> Result<CreatedKey> {
        let name = keel_domain::catalog::Label::parse(name, 100)
            .map_err(|e| ServiceError::invalid("name", e.to_string()))?
            .into_string();
        let grant = if permissions.is_empty() { Grant::All } else { crate::identity::staff::parse_grant(permissions)? };
        let (secret, secret_hash) = new_secret(SECRET_PREFIX);
        let prefix: String = secret.chars().take(SECRET_PREFIX.len() + 6).collect();
        let record = repo::ApiKeyRecord {
            id: ApiKeyId::new(),
            name: name.clone(),
            prefix: prefix.clone(),
            secret_hash,
            permissions: grant.to_names(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.begin().await?;
        repo::insert(&mut tx.conn(), &record).await?;
        tx.commit().await?;
        Ok(CreatedKey { id: record.id, name, prefix, secret, grant })
    }

    /// Checks a presented secret; unknown, malformed and revoked keys are all just unauthenticated.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal> {
        if !secret.starts_with(SECRET_PREFIX) || secret.len() > 128 {
            return Err(ServiceError::Unauthenticated);
        }
        let mut conn = self.db.read().await?;
        let record =
            repo::find_active_by_hash(&mut conn.conn(), &digest(secret)).await?.ok_or(ServiceError::Unauthenticated)?;
        drop(conn);
        let at = now();
        // Recording every use would turn each read into a write; once a minute is enough to tell
        // an owner which keys are alive.
        if record.last_used_at.is_none_or(|t| at - t > chrono::Duration::minutes(1)) {
            let mut tx = self.db.begin().await?;
            repo::mark_used(&mut tx.conn(), record.id, at).await?;
            tx.commit().await?;
        }
        Ok(Principal {
            actor: Actor::ApiKey { id: record.id, name: record.name },
            grant: Grant::from_names(&record.permissions),
        })
    }

    /// Every key, newest first, revoked ones included (marked).
    pub async fn list(&self) -> Result<Vec<ApiKeyInfo>> {
        let mut conn = self.db.read().await?;
        Ok(repo::list(&mut conn.conn()).await?.into_iter().map(info_of).collect())
    }

    pub async fn get(&self, id: ApiKeyId) -> Result<ApiKeyInfo> {
        let mut conn = self.db.read().await?;
        repo::find(&mut conn.conn(), id).await?.map(info_of).ok_or(ServiceError::NotFound { entity: "API key" })
    }

    /// Revokes a key: it stops working at the next request.
    pub async fn revoke(&self, id: ApiKeyId) -> Result<ApiKeyInfo> {
        let mut tx = self.db.begin().await?;
        repo::revoke(&mut tx.conn(), id, now()).await?;
        let key = repo::find(&mut tx.conn(), id).await?.ok_or(ServiceError::NotFound { entity: "API key" })?;
        tx.commit().await?;
        Ok(info_of(key))
    }
}
