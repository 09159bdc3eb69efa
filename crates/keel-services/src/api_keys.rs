//! Admin API keys: created from the CLI, presented as `Authorization: Bearer keel_sk_…`.
//!
//! A key's secret has 256 random bits and is shown once, at creation; the database keeps only
//! its SHA-256 digest. A high-entropy secret needs no slow hash: the digest cannot be reversed,
//! and looking a key up by digest leaks nothing useful through timing.

use crate::{Result, ServiceError, now};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keel_domain::ApiKeyId;
use keel_domain::permission::{Grant, Permission};
use keel_store::{Db, api_keys as repo};
use rand::RngCore;
use sha2::{Digest, Sha256};

const SECRET_PREFIX: &str = "keel_sk_";

/// Who is calling, once their credentials check out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: ApiKeyId,
    pub name: String,
    pub grant: Grant,
}

/// A freshly created key: the only moment its secret is known.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub secret: String,
    pub grant: Grant,
}

#[derive(Clone)]
pub struct ApiKeyService {
    db: Db,
}

fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
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
        let grant = if permissions.is_empty() || permissions.iter().any(|p| p == "*") {
            Grant::All
        } else {
            let mut list = Vec::new();
            for p in permissions {
                match Permission::parse(p) {
                    Some(p) => list.push(p),
                    None => {
                        let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                        return Err(ServiceError::invalid(
                            "permission",
                            format!("unknown permission {p:?}; known: {}", known.join(", ")),
                        ));
                    }
                }
            }
            Grant::Only(list)
        };
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let prefix: String = secret.chars().take(SECRET_PREFIX.len() + 6).collect();
        let record = repo::ApiKeyRecord {
            id: ApiKeyId::new(),
            name: name.clone(),
            prefix: prefix.clone(),
            secret_hash: digest(&secret),
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
        Ok(Principal { key_id: record.id, name: record.name, grant: Grant::from_names(&record.permissions) })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(super::digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
