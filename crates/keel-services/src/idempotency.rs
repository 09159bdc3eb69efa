//! Idempotency keys for mutating requests (`Idempotency-Key` header).
//!
//! The first request with a key runs and its response is stored; a retry with the same key and
//! the same request gets that stored response back, never a second effect. The same key with a
//! different request is refused, and so is a retry while the first is still running. Keys live
//! 24 hours. Keys are scoped by caller, so two callers' keys never collide.

use crate::{Result, ServiceError, now};
use keel_platform::secrets::SecretBox;
use keel_store::{Db, idempotency as repo};
use sha2::{Digest, Sha256};

/// How long a stored response can be replayed.
pub const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time: run the request, then [`IdempotencyService::complete`] (or `release`).
    Fresh,
    /// Seen and finished: answer with this stored response.
    Replay { status: u16, content_type: Option<String>, body: String },
    /// Seen and still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

#[derive(Clone)]
pub struct IdempotencyService {
    db: Db,
    secrets: SecretBox,
}

/// The associated data stored responses are sealed with.
const RESPONSE_PURPOSE: &str = "idempotency.response";

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefix each part so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A caller's scope derived from its credential, without storing the credential.
pub fn scope_for_credential(credential: &str) -> String {
    format!("cred:{}", &hex_sha256(&[credential.as_bytes()])[..32])
}

/// The fingerprint of a request: method, path with query, body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    hex_sha256(&[method.as_bytes(), path_and_query.as_bytes(), body])
}

impl IdempotencyService {
    pub fn new(db: Db, secrets: SecretBox) -> Self {
        Self { db, secrets }
    }

    pub async fn claim(&self, scope: &str, key: &str, request_hash: &str) -> Result<Claim> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ServiceError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters"));
        }
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        if repo::claim(&mut c, scope, key, request_hash, at).await? {
            tx.commit().await?;
            return Ok(Claim::Fresh);
        }
        let Some(record) = repo::find(&mut c, scope, key).await? else {
            return Err(ServiceError::Internal("idempotency key vanished during its claim".into()));
        };
        if at - record.created_at > KEY_LIFETIME {
            // Expired: the key starts a new life for this request.
            repo::release(&mut c, scope, key).await?;
            repo::claim(&mut c, scope, key, request_hash, at).await?;
            tx.commit().await?;
            return Ok(Claim::Fresh);
        }
        tx.commit().await?;
        if record.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        Ok(match record.status {
            None => Claim::InFlight,
            Some(status) => Claim::Replay {
                status: u16::try_from(status).unwrap_or(500),
                content_type: record.content_type,
                // Stored responses may carry secrets (a new API key's): they are kept sealed.
                body: match record.response_body {
                    Some(sealed) => self
                        .secrets
                        .open_str(RESPONSE_PURPOSE, &sealed)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                    None => String::new(),
                },
            },
        })
    }

    pub async fn complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let sealed = self.secrets.seal_str(RESPONSE_PURPOSE, body);
        repo::complete(&mut tx.conn(), scope, key, status, content_type, &sealed, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a claim so the request can be retried (after a server error).
    pub async fn release(&self, scope: &str, key: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        repo::release(&mut tx.conn(), scope, key).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(fingerprint("POST", "/a", b"bc"), fingerprint("POST", "/ab", b"c"));
        assert_eq!(fingerprint("POST", "/a", b"{}"), fingerprint("POST", "/a", b"{}"));
        assert!(scope_for_credential("secret").starts_with("cred:"));
        assert!(!scope_for_credential("secret").contains("secret"));
    }
}
