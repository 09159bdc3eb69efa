//! Identity and access: who is calling, and what they may do.
//!
//! - **Customers** register with email and password, sign in for a session, keep an address
//!   book, reset a forgotten password by email, verify their address, export and erase their data.
//! - **Staff** sign in with a password or through an OpenID provider; a role (built-in or custom)
//!   gives them named permissions. API keys are the other kind of admin principal.
//! - **Sessions** are pairs of opaque tokens (256 random bits each, stored only as SHA-256
//!   digests): a short-lived access token and a refresh token that rotates on every use. Replaying
//!   an already rotated refresh token revokes the whole session (it was stolen, or leaked).
//!   Logging out revokes the session at once: every request checks it.
//! - **Throttling** counts failed logins per account and per client address in the database (so
//!   every node sees the same counts) and locks with exponential back-off.

pub mod audit;
pub mod customers;
pub mod passwords;
pub mod sessions;
pub mod staff;
pub mod throttle;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use keel_domain::permission::Grant;
use keel_domain::{ApiKeyId, SessionId, StaffId};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Lifetimes and limits of the identity services (from configuration).
#[derive(Debug, Clone)]
pub struct IdentityOptions {
    pub access_ttl: Duration,
    pub customer_refresh_ttl: Duration,
    pub staff_refresh_ttl: Duration,
    pub password_reset_ttl: Duration,
    pub email_verification_ttl: Duration,
    pub invitation_ttl: Duration,
    pub throttle: throttle::ThrottleOptions,
    /// Where links in emails point (`{public_url}/reset-password?token=…`).
    pub public_url: String,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            access_ttl: Duration::minutes(15),
            customer_refresh_ttl: Duration::days(30),
            staff_refresh_ttl: Duration::hours(12),
            password_reset_ttl: Duration::hours(1),
            email_verification_ttl: Duration::days(2),
            invitation_ttl: Duration::days(7),
            throttle: throttle::ThrottleOptions::default(),
            public_url: "http://127.0.0.1:8080".to_string(),
        }
    }
}

/// A new random secret with a readable prefix, and the digest that is stored instead of it.
pub(crate) fn new_secret(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&secret);
    (secret, hash)
}

/// The SHA-256 digest of a secret, hex. Secrets carry 256 random bits, so a fast hash is enough:
/// it cannot be reversed, and looking a secret up by its digest leaks nothing through timing.
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two strings are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Who is acting on the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey { id: ApiKeyId, name: String },
    Staff { id: StaffId, email: String, session: SessionId },
}

/// An authenticated admin principal and the permissions it holds.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub grant: Grant,
}

impl Principal {
    pub fn kind(&self) -> &'static str {
        match self.actor {
            Actor::ApiKey { .. } => "api_key",
            Actor::Staff { .. } => "staff",
        }
    }

    pub fn id(&self) -> String {
        match &self.actor {
            Actor::ApiKey { id, .. } => id.to_string(),
            Actor::Staff { id, .. } => id.to_string(),
        }
    }

    /// A human-readable name: the key's name or the staff member's email.
    pub fn label(&self) -> &str {
        match &self.actor {
            Actor::ApiKey { name, .. } => name,
            Actor::Staff { email, .. } => email,
        }
    }

    pub fn staff_id(&self) -> Option<StaffId> {
        match &self.actor {
            Actor::Staff { id, .. } => Some(*id),
            Actor::ApiKey { .. } => None,
        }
    }
}

/// A signed-in customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerPrincipal {
    pub customer_id: keel_domain::CustomerId,
    pub session_id: SessionId,
}

/// What a successful login or refresh hands out.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange at the refresh endpoint for a new pair; works once.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(super::digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn secrets_are_256_bit_and_prefixed() {
        let (secret, hash) = super::new_secret("keel_at_");
        assert!(secret.starts_with("keel_at_"));
        assert_eq!(secret.len(), "keel_at_".len() + 43);
        assert_eq!(hash, super::digest(&secret));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq("abc", "abc"));
        assert!(!super::constant_time_eq("abc", "abd"));
        assert!(!super::constant_time_eq("abc", "ab"));
    }
}
