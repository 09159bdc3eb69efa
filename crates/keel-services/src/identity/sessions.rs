//! Sessions: an access token (minutes) and a refresh token (days) per sign-in, both opaque and
//! stored only as digests. Refreshing rotates both; a refresh token that was already rotated
//! away revokes its session (whoever holds the newer one, the pair has leaked). A session lives at
//! most its refresh lifetime from sign-in: refreshing does not extend it.

use super::{IdentityOptions, TokenPair, digest, new_secret};
use crate::{Result, ServiceError, now};
use keel_domain::SessionId;
use keel_store::{Conn, Db, identity as repo};

pub const ACCESS_PREFIX: &str = "keel_at_";
pub const REFRESH_PREFIX: &str = "keel_rt_";

/// Whose session it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Customer,
    Staff,
}

impl SubjectKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::Customer => "customer",
            SubjectKind::Staff => "staff",
        }
    }
}

/// A live session found by its access token.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub subject_id: String,
    /// When its current access token stops working.
    pub access_expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
pub struct SessionService {
    db: Db,
    options: IdentityOptions,
}

fn looks_like(token: &str, prefix: &str) -> bool {
    token.starts_with(prefix) && token.len() == prefix.len() + 43
}

impl SessionService {
    pub fn new(db: Db, options: IdentityOptions) -> Self {
        SessionService { db, options }
    }

    fn refresh_ttl(&self, kind: SubjectKind) -> chrono::Duration {
        match kind {
            SubjectKind::Customer => self.options.customer_refresh_ttl,
            SubjectKind::Staff => self.options.staff_refresh_ttl,
        }
    }

    /// Starts a session for a subject, in the caller's transaction.
    pub async fn start(&self, c: &mut Conn<'_>, kind: SubjectKind, subject_id: &str) -> Result<TokenPair> {
        let at = now();
        let (access, access_hash) = new_secret(ACCESS_PREFIX);
        let (refresh, refresh_hash) = new_secret(REFRESH_PREFIX);
        let row = repo::SessionRow {
            id: SessionId::new().to_string(),
            subject_kind: kind.as_str().to_string(),
            subject_id: subject_id.to_string(),
            access_hash,
            access_expires_at: at + self.options.access_ttl,
            refresh_hash,
            previous_refresh_hash: None,
            refresh_expires_at: at + self.refresh_ttl(kind),
            created_at: at,
            refreshed_at: at,
            revoked_at: None,
            revoked_reason: None,
        };
        repo::insert_session(c, &row).await?;
        Ok(self.pair(access, refresh, kind))
    }

    fn pair(&self, access: String, refresh: String, kind: SubjectKind) -> TokenPair {
        TokenPair {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.options.access_ttl.num_seconds(),
            refresh_token: refresh,
            refresh_expires_in: self.refresh_ttl(kind).num_seconds(),
        }
    }

    /// The live session of an access token of this kind, or `Unauthenticated`.
    pub async fn authenticate(&self, kind: SubjectKind, access_token: &str) -> Result<Session> {
        if !looks_like(access_token, ACCESS_PREFIX) {
            return Err(ServiceError::Unauthenticated);
        }
        let mut conn = self.db.read().await?;
        let row = repo::find_session_by_access(&mut conn.conn(), &digest(access_token))
            .await?
            .filter(|s| s.subject_kind == kind.as_str() && s.access_expires_at > now())
            .ok_or(ServiceError::Unauthenticated)?;
        Ok(Session {
            id: parse_session_id(&row.id)?,
            subject_id: row.subject_id,
            access_expires_at: row.access_expires_at,
        })
    }

    /// Exchanges a refresh token for a new pair. Only a live, unexpired, current refresh token
    /// of this kind works; replaying a rotated one revokes its session.
    pub async fn refresh(&self, kind: SubjectKind, refresh_token: &str) -> Result<(TokenPair, Session)> {
        if !looks_like(refresh_token, REFRESH_PREFIX) {
            return Err(ServiceError::Unauthenticated);
        }
        let hash = digest(refresh_token);
        let at = now();
        let mut tx = self.db.begin().await?;
        let Some(row) = repo::find_session_by_refresh(&mut tx.conn(), &hash).await? else {
            if let Some(stolen) = repo::find_session_by_previous_refresh(&mut tx.conn(), &hash).await? {
                repo::revoke_session(&mut tx.conn(), &stolen.id, "refresh_token_reused", at).await?;
                tx.commit().await?;
                tracing::warn!(session = %stolen.id, "a rotated refresh token was replayed; session revoked");
            }
            return Err(ServiceError::Unauthenticated);
        };
        if row.subject_kind != kind.as_str() || row.refresh_expires_at <= at {
            return Err(ServiceError::Unauthenticated);
        }
        let (access, access_hash) = new_secret(ACCESS_PREFIX);
        let (refresh, refresh_hash) = new_secret(REFRESH_PREFIX);
        let next = repo::SessionRow {
            access_hash,
            access_expires_at: at + self.options.access_ttl,
            refresh_hash,
            refreshed_at: at,
            ..row.clone()
        };
        if !repo::rotate_session(&mut tx.conn(), &hash, &next).await? {
            // Another request rotated it first.
            return Err(ServiceError::Unauthenticated);
        }
        tx.commit().await?;
        let session = Session {
            id: parse_session_id(&row.id)?,
            subject_id: row.subject_id,
            access_expires_at: next.access_expires_at,
        };
        // A session ends when its first refresh token would have: refreshing never extends it.
        let mut pair = self.pair(access, refresh, kind);
        pair.refresh_expires_in = (row.refresh_expires_at - at).num_seconds();
        Ok((pair, session))
    }

    /// Ends one session at once.
    pub async fn revoke(&self, id: SessionId, reason: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        repo::revoke_session(&mut tx.conn(), &id.to_string(), reason, now()).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn parse_session_id(raw: &str) -> Result<SessionId> {
    SessionId::parse(raw).map_err(|_| ServiceError::Internal(format!("stored session id {raw:?}")))
}
