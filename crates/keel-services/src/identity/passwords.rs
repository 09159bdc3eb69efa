//! Password hashing: Argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! stored in PHC string format so that the parameters travel with each hash. A hash made with
//! other parameters still verifies, and is replaced at the next successful login.
//!
//! Hashing is deliberately slow (tens of milliseconds), so it runs on the blocking thread pool,
//! never on the async workers. An unknown account is checked against a dummy hash, so a login
//! takes as long whether or not the email exists.

use crate::{Result, ServiceError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, verified against when the account does not exist.
static DUMMY: LazyLock<String> = LazyLock::new(|| hash_now("not a password anyone has").unwrap_or_default());

fn hash_now(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ServiceError::Internal(format!("salt: {e}")))?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ServiceError::Internal(format!("password hash: {e}")))?
        .to_string())
}

/// Hashes a new password.
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?
}

/// The outcome of checking a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash should be replaced by this one (its parameters were old).
    YesRehashed(String),
}

/// Checks `password` against `stored` (or, for an unknown account, against a dummy hash so the
/// answer takes the same time; the result is then always `No`).
pub async fn verify(password: String, stored: Option<String>) -> Result<Verified> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Ok(Verified::No);
        };
        if hasher().verify_password(password.as_bytes(), &parsed).is_err() || !known {
            return Ok(Verified::No);
        }
        if is_current(&parsed) { Ok(Verified::Yes) } else { Ok(Verified::YesRehashed(hash_now(&password)?)) }
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?
}

fn is_current(parsed: &PasswordHash<'_>) -> bool {
    let Ok(params) = Params::try_from(parsed) else { return false };
    parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(Version::V0x13.into())
        && params.m_cost() == MEMORY_KIB
        && params.t_cost() == PASSES
        && params.p_cost() == LANES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_eq!(verify("correct horse battery".into(), Some(stored.clone())).await.unwrap(), Verified::Yes);
        assert_eq!(verify("wrong horse battery".into(), Some(stored)).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn an_older_hash_verifies_and_is_replaced() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = weak.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        match verify("correct horse battery".into(), Some(old)).await.unwrap() {
            Verified::YesRehashed(new) => assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert_eq!(verify("not a password anyone has".into(), None).await.unwrap(), Verified::No);
    }
}
