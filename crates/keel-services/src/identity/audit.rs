//! The staff audit log: who changed what, when, and the resource before and after.
//!
//! The admin API records every successful change (see the api crate's audit layer) with the
//! acting principal, the route, the response status and the resource as a read of it showed it
//! before and after. Secrets in bodies (passwords, tokens, key secrets) are replaced by
//! `"[redacted]"` before anything is stored.

use super::Principal;
use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::AuditId;
use keel_store::{Db, JsonColumn, identity as repo};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    /// `staff` or `api_key`.
    pub actor_kind: String,
    pub actor_id: String,
    /// The staff member's email or the key's name.
    pub actor: String,
    /// `METHOD route`, e.g. `PATCH /v1/admin/products/{id}`.
    pub action: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[schema(value_type = Object)]
    pub before: Option<Value>,
    #[schema(value_type = Object)]
    pub after: Option<Value>,
    pub request_id: Option<String>,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change {
    pub method: String,
    /// The route template (`/v1/admin/products/{id}`).
    pub route: String,
    /// The concrete path.
    pub path: String,
    pub status: u16,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
}

const SECRET_FIELDS: &[&str] =
    &["password", "current_password", "new_password", "token", "secret", "access_token", "refresh_token"];

/// Replaces the values of secret-bearing fields, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[derive(Clone)]
pub struct AuditService {
    db: Db,
}

impl AuditService {
    pub fn new(db: Db) -> Self {
        AuditService { db }
    }

    pub async fn record(&self, by: &Principal, mut change: Change) -> Result<()> {
        change.before.as_mut().map(redact);
        change.after.as_mut().map(redact);
        let row = repo::AuditRow {
            id: AuditId::new().to_string(),
            at: now(),
            actor_kind: by.kind().to_string(),
            actor_id: by.id(),
            actor_label: by.label().to_string(),
            action: format!("{} {}", change.method, change.route),
            method: change.method,
            path: change.path,
            status: i32::from(change.status),
            before: change.before.map(JsonColumn),
            after: change.after.map(JsonColumn),
            request_id: change.request_id,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_audit(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Entries newest first, optionally one actor's, after the cursor (an entry id).
    pub async fn list(&self, actor_id: Option<&str>, cursor: Option<AuditId>, limit: u64) -> Result<Vec<AuditEntry>> {
        let mut conn = self.db.read().await?;
        let before = cursor.map(|c| c.to_string());
        repo::list_audit(&mut conn.conn(), actor_id, before.as_deref(), limit)
            .await?
            .into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: AuditId::parse(&r.id).map_err(|_| ServiceError::Internal(format!("audit id {:?}", r.id)))?,
                    at: r.at,
                    actor_kind: r.actor_kind,
                    actor_id: r.actor_id,
                    actor: r.actor_label,
                    action: r.action,
                    method: r.method,
                    path: r.path,
                    status: u16::try_from(r.status).unwrap_or(0),
                    before: r.before.map(|j| j.0),
                    after: r.after.map(|j| j.0),
                    request_id: r.request_id,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v = serde_json::json!({"email": "a@b.co", "password": "hunter22", "key": {"secret": "keel_sk_x"}, "list": [{"token": "t"}]});
        super::redact(&mut v);
        assert_eq!(v["email"], "a@b.co");
        assert_eq!(v["password"], "[redacted]");
        assert_eq!(v["key"]["secret"], "[redacted]");
        assert_eq!(v["list"][0]["token"], "[redacted]");
    }
}
