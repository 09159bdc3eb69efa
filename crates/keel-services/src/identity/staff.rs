//! Staff accounts, roles, invitations, admin API keys and OpenID Connect sign-in.
//!
//! A staff member holds one role; a role is a named set of permissions (six built in, more made
//! through the admin API). Nobody can hand out more than they hold: a role, an invitation or an
//! API key may only carry permissions its creator has; only a holder of `*` (an owner) can make
//! owners or `*` keys, and the last active owner cannot be demoted or disabled.

use super::passwords::{self, Verified};
use super::sessions::{SessionService, SubjectKind};
use super::throttle::{Attempt, Throttle};
use super::{Actor, IdentityOptions, Principal, TokenPair, constant_time_eq, digest, new_secret};
use crate::mail::{Template, send_sealed_later};
use crate::oidc::{OidcClient, OidcProviderConfig};
use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::identity::{Email, check_new_password};
use keel_domain::permission::{BuiltinRole, Grant, Permission};
use keel_domain::{StaffId, ValidationErrors};
use keel_platform::secrets::SecretBox;
use keel_store::{Conn, Db, JsonColumn, identity as repo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

const INVITATION: &str = "staff_invitation";
const OWNER: &str = "owner";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub id: StaffId,
    pub email: String,
    pub name: String,
    #[schema(example = "catalog_manager")]
    pub role: String,
    /// What the role grants today (`*` for owners).
    pub permissions: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    #[schema(example = "catalog_manager")]
    pub name: String,
    pub description: String,
    /// Built-in roles cannot be changed or deleted.
    pub builtin: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// Lower-case letters, digits and `_`, 2 to 50 characters.
    #[schema(example = "merchandiser")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[schema(example = json!(["products:read", "products:write"]))]
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    pub name: Option<String>,
    pub role: Option<String>,
    /// `active` or `disabled` (disabling ends every session at once).
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An admin API key as listed (its secret is never shown again after creation).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    pub id: keel_domain::ApiKeyId,
    pub name: String,
    /// The secret's first characters, to tell keys apart.
    #[schema(example = "keel_sk_AbC123")]
    pub prefix: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Parses permission names; `*` means all.
pub fn parse_grant(names: &[String]) -> Result<Grant> {
    if names.iter().any(|p| p == "*") {
        return Ok(Grant::All);
    }
    let mut list = Vec::new();
    for name in names {
        match Permission::parse(name) {
            Some(p) if !list.contains(&p) => list.push(p),
            Some(_) => {}
            None => {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                return Err(ServiceError::invalid(
                    "permissions",
                    format!("unknown permission {name:?}; known: {}", known.join(", ")),
                ));
            }
        }
    }
    Ok(Grant::Only(list))
}

/// Refuses to let `by` grant `grant` to anyone (more than it holds).
pub fn ensure_covers(by: &Principal, grant: &Grant) -> Result<()> {
    if by.grant.covers(grant) {
        return Ok(());
    }
    Err(ServiceError::Forbidden("you cannot grant permissions you do not hold".into()))
}

fn grant_of(role: &repo::RoleRow) -> Grant {
    match BuiltinRole::parse(&role.name).filter(|_| role.builtin) {
        Some(builtin) => builtin.grant(),
        None => Grant::from_names(&role.permissions.0),
    }
}

fn role_of(row: &repo::RoleRow) -> Role {
    let builtin = BuiltinRole::parse(&row.name).filter(|_| row.builtin);
    Role {
        name: row.name.clone(),
        description: match builtin {
            Some(b) => b.description().to_string(),
            None => row.description.clone(),
        },
        builtin: row.builtin,
        permissions: grant_of(row).to_names(),
    }
}

fn staff_of(row: repo::StaffRow, role: &repo::RoleRow) -> Result<StaffMember> {
    Ok(StaffMember {
        id: StaffId::parse(&row.id).map_err(|_| ServiceError::Internal(format!("staff id {:?}", row.id)))?,
        email: row.email,
        name: row.name,
        role: row.role,
        permissions: grant_of(role).to_names(),
        status: row.status,
        created_at: row.created_at,
        last_login_at: row.last_login_at,
    })
}

fn check_role_name(name: &str) -> Result<String> {
    let ok = (2..=50).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !ok {
        return Err(ServiceError::invalid(
            "name",
            "must be 2 to 50 lower-case letters, digits or `_`, starting with a letter",
        ));
    }
    Ok(name.to_string())
}

#[derive(Clone)]
pub struct StaffService {
    db: Db,
    sessions: SessionService,
    throttle: Throttle,
    api_keys: crate::api_keys::ApiKeyService,
    options: IdentityOptions,
    oidc: BTreeMap<String, OidcClient>,
    secrets: SecretBox,
}

/// Where an OpenID Connect login goes next, and the secret its browser must bring back.
pub struct OidcRedirect {
    pub authorize_url: String,
    /// Set as a cookie; the callback must present it (binds the login to this browser).
    pub browser_secret: String,
}

impl StaffService {
    pub fn new(
        db: Db,
        sessions: SessionService,
        throttle: Throttle,
        api_keys: crate::api_keys::ApiKeyService,
        options: IdentityOptions,
        providers: Vec<OidcProviderConfig>,
        secrets: SecretBox,
    ) -> Self {
        let oidc = providers.into_iter().map(|p| (p.name.clone(), OidcClient::new(p))).collect();
        StaffService { db, sessions, throttle, api_keys, options, oidc, secrets }
    }

    async fn role_row(&self, c: &mut Conn<'_>, name: &str) -> Result<repo::RoleRow> {
        repo::find_role(c, name).await?.ok_or_else(|| ServiceError::invalid("role", format!("no role named {name:?}")))
    }

    /// Creates a staff member directly (the CLI, for the first owner; no permission check).
    pub async fn create(&self, email: &str, password: &str, name: &str, role: &str) -> Result<StaffMember> {
        let email = Email::parse(email).map_err(|m| ServiceError::invalid("email", m))?;
        check_new_password(password, email.as_str()).map_err(|m| ServiceError::invalid("password", m))?;
        let hash = passwords::hash(password.to_string()).await?;
        let mut tx = self.db.begin().await?;
        let role = self.role_row(&mut tx.conn(), role).await?;
        let row = self.insert(&mut tx.conn(), email.as_str(), name, Some(hash), &role.name).await?;
        tx.commit().await?;
        staff_of(row, &role)
    }

    async fn insert(
        &self,
        c: &mut Conn<'_>,
        email: &str,
        name: &str,
        hash: Option<String>,
        role: &str,
    ) -> Result<repo::StaffRow> {
        let at = now();
        let row = repo::StaffRow {
            id: StaffId::new().to_string(),
            email: email.to_string(),
            name: name.trim().chars().take(100).collect(),
            password_hash: hash,
            role: role.to_string(),
            status: "active".into(),
            created_at: at,
            updated_at: at,
            last_login_at: None,
        };
        repo::insert_staff(c, &row).await?;
        Ok(row)
    }

    /// Password sign-in, throttled like customers' (its own counters).
    pub async fn login(&self, email: &str, password: &str, client: Option<IpAddr>) -> Result<TokenPair> {
        let attempt = Attempt::new("staff-login", email, client);
        self.throttle.check(&attempt).await?;
        let found = match Email::parse(email) {
            Ok(email) => {
                let mut conn = self.db.read().await?;
                repo::find_staff_by_email(&mut conn.conn(), email.as_str()).await?
            }
            Err(_) => None,
        }
        .filter(|s| s.status == "active");
        let verified =
            passwords::verify(password.to_string(), found.as_ref().and_then(|s| s.password_hash.clone())).await?;
        let (Some(mut staff), Verified::Yes | Verified::YesRehashed(_)) = (found, &verified) else {
            self.throttle.failed(&attempt).await?;
            return Err(ServiceError::Unauthenticated);
        };
        self.throttle.succeeded(&attempt).await?;
        if let Verified::YesRehashed(hash) = verified {
            staff.password_hash = Some(hash);
        }
        let mut tx = self.db.begin().await?;
        let pair = self.start_session(&mut tx.conn(), staff, "/v1/admin/auth/token").await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// Signs a member in and writes the sign-in to the audit log (`how`: the route it came by).
    async fn start_session(&self, c: &mut Conn<'_>, mut staff: repo::StaffRow, how: &str) -> Result<TokenPair> {
        let at = now();
        staff.last_login_at = Some(at);
        staff.updated_at = at;
        repo::update_staff(c, &staff).await?;
        let entry = repo::AuditRow {
            id: keel_domain::AuditId::new().to_string(),
            at,
            actor_kind: "staff".into(),
            actor_id: staff.id.clone(),
            actor_label: staff.email.clone(),
            action: format!("sign-in {how}"),
            method: "POST".into(),
            path: how.to_string(),
            status: 200,
            before: None,
            after: Some(JsonColumn(serde_json::json!({"role": staff.role}))),
            request_id: None,
        };
        repo::insert_audit(c, &entry).await?;
        self.sessions.start(c, SubjectKind::Staff, &staff.id).await
    }

    /// The admin principal behind a bearer credential: an API key or a staff access token.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal> {
        if credential.starts_with(crate::api_keys::SECRET_PREFIX) {
            return self.api_keys.authenticate(credential).await;
        }
        let session = self.sessions.authenticate(SubjectKind::Staff, credential).await?;
        let mut conn = self.db.read().await?;
        let staff = repo::find_staff(&mut conn.conn(), &session.subject_id)
            .await?
            .filter(|s| s.status == "active")
            .ok_or(ServiceError::Unauthenticated)?;
        let role = repo::find_role(&mut conn.conn(), &staff.role).await?.ok_or(ServiceError::Unauthenticated)?;
        let id = StaffId::parse(&staff.id).map_err(|_| ServiceError::Unauthenticated)?;
        Ok(Principal { actor: Actor::Staff { id, email: staff.email, session: session.id }, grant: grant_of(&role) })
    }

    /// When a staff member's access token stops working; the token must work now (its staff
    /// member active).
    pub async fn session_ends(&self, access_token: &str) -> Result<DateTime<Utc>> {
        self.authenticate(access_token).await?;
        Ok(self.sessions.authenticate(SubjectKind::Staff, access_token).await?.access_expires_at)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let (pair, session) = self.sessions.refresh(SubjectKind::Staff, refresh_token).await?;
        // A disabled member's session cannot be renewed.
        let mut conn = self.db.read().await?;
        let active =
            repo::find_staff(&mut conn.conn(), &session.subject_id).await?.is_some_and(|s| s.status == "active");
        drop(conn);
        if !active {
            self.sessions.revoke(session.id, "staff_disabled").await?;
            return Err(ServiceError::Unauthenticated);
        }
        Ok(pair)
    }

    pub async fn logout(&self, who: &Principal) -> Result<()> {
        match who.actor {
            Actor::Staff { session, .. } => self.sessions.revoke(session, "logout").await,
            Actor::ApiKey { .. } => {
                Err(ServiceError::invalid("authorization", "an API key has no session to end; revoke the key instead"))
            }
        }
    }

    /// Changes the caller's password after checking the current one (throttled like sign-in);
    /// every session of theirs ends and a new one starts.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair> {
        let id = who.staff_id().ok_or_else(|| ServiceError::invalid("authorization", "an API key has no password"))?;
        let mut conn = self.db.read().await?;
        let mut row =
            repo::find_staff(&mut conn.conn(), &id.to_string()).await?.ok_or(ServiceError::Unauthenticated)?;
        drop(conn);
        let attempt = Attempt::new("staff-login", &row.email, client);
        self.throttle.check(&attempt).await?;
        if passwords::verify(current.to_string(), row.password_hash.clone()).await? == Verified::No {
            self.throttle.failed(&attempt).await?;
            return Err(ServiceError::invalid("current_password", "is not the current password"));
        }
        check_new_password(new, &row.email).map_err(|m| ServiceError::invalid("new_password", m))?;
        row.password_hash = Some(passwords::hash(new.to_string()).await?);
        row.updated_at = now();
        let mut tx = self.db.begin().await?;
        repo::update_staff(&mut tx.conn(), &row).await?;
        repo::revoke_sessions_of(&mut tx.conn(), "staff", &row.id, "password_changed", row.updated_at).await?;
        let pair = self.sessions.start(&mut tx.conn(), SubjectKind::Staff, &row.id).await?;
        tx.commit().await?;
        Ok(pair)
    }

    pub async fn me(&self, who: &Principal) -> Result<StaffMember> {
        let id = who.staff_id().ok_or(ServiceError::NotFound { entity: "staff member" })?;
        self.get(id).await
    }

    pub async fn get(&self, id: StaffId) -> Result<StaffMember> {
        let mut conn = self.db.read().await?;
        let row = repo::find_staff(&mut conn.conn(), &id.to_string())
            .await?
            .ok_or(ServiceError::NotFound { entity: "staff member" })?;
        let role = self.role_row(&mut conn.conn(), &row.role).await?;
        staff_of(row, &role)
    }

    pub async fn list(&self) -> Result<Vec<StaffMember>> {
        let mut conn = self.db.read().await?;
        let roles: BTreeMap<String, repo::RoleRow> =
            repo::list_roles(&mut conn.conn()).await?.into_iter().map(|r| (r.name.clone(), r)).collect();
        repo::list_staff(&mut conn.conn())
            .await?
            .into_iter()
            .map(|row| {
                let role =
                    roles.get(&row.role).ok_or_else(|| ServiceError::Internal(format!("role {:?}", row.role)))?;
                staff_of(row, role)
            })
            .collect()
    }

    /// Changes a member's name, role or status, within the caller's own powers.
    pub async fn update(&self, by: &Principal, id: StaffId, patch: StaffPatch) -> Result<StaffMember> {
        let mut tx = self.db.begin().await?;
        let mut row = repo::find_staff(&mut tx.conn(), &id.to_string())
            .await?
            .ok_or(ServiceError::NotFound { entity: "staff member" })?;
        let current = self.role_row(&mut tx.conn(), &row.role).await?;
        // Changing someone is granting them their role again: only within the caller's powers.
        ensure_covers(by, &grant_of(&current))?;
        if let Some(name) = &patch.name {
            row.name = name.trim().chars().take(100).collect();
        }
        let mut role = current.clone();
        if let Some(new_role) = &patch.role {
            role = self.role_row(&mut tx.conn(), new_role).await?;
            ensure_covers(by, &grant_of(&role))?;
            row.role = role.name.clone();
        }
        if let Some(status) = &patch.status {
            if status != "active" && status != "disabled" {
                return Err(ServiceError::invalid("status", "must be `active` or `disabled`"));
            }
            if by.staff_id() == Some(id) && status == "disabled" {
                return Err(ServiceError::invalid("status", "you cannot disable yourself"));
            }
            row.status = status.clone();
        }
        let stays_owner = row.role == OWNER && row.status == "active";
        if current.name == OWNER
            && !stays_owner
            && repo::count_active_staff_with_role(&mut tx.conn(), OWNER).await? <= 1
        {
            return Err(ServiceError::Conflict {
                code: "last_owner",
                field: "role",
                message: "the last active owner must stay an active owner".into(),
            });
        }
        row.updated_at = now();
        repo::update_staff(&mut tx.conn(), &row).await?;
        if row.status == "disabled" {
            repo::revoke_sessions_of(&mut tx.conn(), "staff", &row.id, "staff_disabled", row.updated_at).await?;
        }
        tx.commit().await?;
        staff_of(row, &role)
    }

    /// Invites someone by email to join with a role; the link works once, for a week.
    pub async fn invite(&self, by: &Principal, email: &str, role: &str) -> Result<Invitation> {
        let email = Email::parse(email).map_err(|m| ServiceError::invalid("email", m))?;
        let mut tx = self.db.begin().await?;
        let role = self.role_row(&mut tx.conn(), role).await?;
        ensure_covers(by, &grant_of(&role))?;
        if repo::find_staff_by_email(&mut tx.conn(), email.as_str()).await?.is_some() {
            return Err(ServiceError::Conflict {
                code: "email_taken",
                field: "email",
                message: "a staff member with this email already exists".into(),
            });
        }
        let at = now();
        repo::void_tokens(&mut tx.conn(), INVITATION, email.as_str(), at).await?;
        let (token, token_hash) = new_secret("keel_tk_");
        let invitation = Invitation {
            email: email.to_string(),
            role: role.name.clone(),
            invited_by: by.label().to_string(),
            created_at: at,
            expires_at: at + self.options.invitation_ttl,
        };
        let row = repo::TokenRow {
            token_hash,
            purpose: INVITATION.into(),
            subject_id: email.to_string(),
            data: JsonColumn(serde_json::json!({"role": role.name, "invited_by": invitation.invited_by})),
            created_at: at,
            expires_at: invitation.expires_at,
            used_at: None,
        };
        repo::insert_token(&mut tx.conn(), &row).await?;
        let link = format!("{}/admin/accept-invitation?token={token}", self.options.public_url);
        let data = serde_json::json!({"link": link, "role": role.name, "invited_by": invitation.invited_by});
        send_sealed_later(&mut tx.conn(), &self.secrets, email.as_str(), Template::StaffInvitation, data).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    pub async fn invitations(&self) -> Result<Vec<Invitation>> {
        let mut conn = self.db.read().await?;
        Ok(repo::outstanding_tokens(&mut conn.conn(), INVITATION, now())
            .await?
            .into_iter()
            .map(|t| Invitation {
                email: t.subject_id,
                role: t.data.0["role"].as_str().unwrap_or_default().to_string(),
                invited_by: t.data.0["invited_by"].as_str().unwrap_or_default().to_string(),
                created_at: t.created_at,
                expires_at: t.expires_at,
            })
            .collect())
    }

    /// Accepts an invitation: creates the member with the invited role and signs them in.
    pub async fn accept_invitation(&self, token: &str, password: &str, name: &str) -> Result<TokenPair> {
        let invalid = || ServiceError::invalid("token", "is invalid, used or expired");
        let hash = passwords::hash(password.to_string()).await?;
        let mut tx = self.db.begin().await?;
        let used = repo::consume_token(&mut tx.conn(), &digest(token), INVITATION, now()).await?.ok_or_else(invalid)?;
        check_new_password(password, &used.subject_id).map_err(|m| ServiceError::invalid("password", m))?;
        let role = used.data.0["role"].as_str().ok_or_else(invalid)?.to_string();
        let row = self.insert(&mut tx.conn(), &used.subject_id, name, Some(hash), &role).await?;
        let pair = self.start_session(&mut tx.conn(), row, "/v1/admin/auth/invitations/accept").await?;
        tx.commit().await?;
        Ok(pair)
    }

    pub async fn roles(&self) -> Result<Vec<Role>> {
        let mut conn = self.db.read().await?;
        Ok(repo::list_roles(&mut conn.conn()).await?.iter().map(role_of).collect())
    }

    pub async fn role(&self, name: &str) -> Result<Role> {
        let mut conn = self.db.read().await?;
        let row = repo::find_role(&mut conn.conn(), name).await?.ok_or(ServiceError::NotFound { entity: "role" })?;
        Ok(role_of(&row))
    }

    pub async fn create_role(&self, by: &Principal, input: RoleInput) -> Result<Role> {
        let mut errors = ValidationErrors::new();
        let name = errors.check(
            "name",
            check_role_name(&input.name)
                .map_err(|_| "must be 2 to 50 lower-case letters, digits or `_`, starting with a letter"),
        );
        let grant = errors.check("permissions", parse_grant(&input.permissions).map_err(|e| e.to_string()));
        let (name, grant) = match errors.finish(|| (name, grant))? {
            (Some(n), Some(g)) => (n, g),
            _ => return Err(ServiceError::invalid("name", "is required")),
        };
        if grant == Grant::All {
            return Err(ServiceError::invalid("permissions", "`*` is the owner role's alone; list the permissions"));
        }
        ensure_covers(by, &grant)?;
        let at = now();
        let row = repo::RoleRow {
            name,
            description: input.description.trim().chars().take(500).collect(),
            permissions: JsonColumn(grant.to_names()),
            builtin: false,
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_role(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(role_of(&row))
    }

    pub async fn update_role(&self, by: &Principal, name: &str, patch: RolePatch) -> Result<Role> {
        let mut tx = self.db.begin().await?;
        let mut row = repo::find_role(&mut tx.conn(), name).await?.ok_or(ServiceError::NotFound { entity: "role" })?;
        if row.builtin {
            return Err(ServiceError::Conflict {
                code: "builtin_role",
                field: "name",
                message: "built-in roles cannot be changed".into(),
            });
        }
        ensure_covers(by, &grant_of(&row))?;
        if let Some(description) = patch.description {
            row.description = description.trim().chars().take(500).collect();
        }
        if let Some(permissions) = patch.permissions {
            let grant = parse_grant(&permissions)?;
            if grant == Grant::All {
                return Err(ServiceError::invalid(
                    "permissions",
                    "`*` is the owner role's alone; list the permissions",
                ));
            }
            ensure_covers(by, &grant)?;
            row.permissions = JsonColumn(grant.to_names());
        }
        row.updated_at = now();
        repo::update_role(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(role_of(&row))
    }

    pub async fn delete_role(&self, by: &Principal, name: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let row = repo::find_role(&mut tx.conn(), name).await?.ok_or(ServiceError::NotFound { entity: "role" })?;
        if row.builtin {
            return Err(ServiceError::Conflict {
                code: "builtin_role",
                field: "name",
                message: "built-in roles cannot be deleted".into(),
            });
        }
        ensure_covers(by, &grant_of(&row))?;
        match repo::delete_role(&mut tx.conn(), name).await {
            Ok(_) => {}
            Err(keel_store::StoreError::ForeignKey) => {
                return Err(ServiceError::Conflict {
                    code: "role_in_use",
                    field: "name",
                    message: "staff members still hold this role; give them another first".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API key holding at most what its creator holds.
    pub async fn create_api_key(
        &self,
        by: &Principal,
        name: &str,
        permissions: &[String],
    ) -> Result<crate::api_keys::CreatedKey> {
        let grant = if permissions.is_empty() { Grant::All } else { parse_grant(permissions)? };
        ensure_covers(by, &grant)?;
        self.api_keys.create(name, &grant.to_names()).await
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        self.api_keys.list().await
    }

    pub async fn revoke_api_key(&self, by: &Principal, id: keel_domain::ApiKeyId) -> Result<ApiKeyInfo> {
        let key = self.api_keys.get(id).await?;
        ensure_covers(by, &parse_grant(&key.permissions)?)?;
        self.api_keys.revoke(id).await
    }

    /// The configured OpenID providers' names.
    pub fn oidc_providers(&self) -> Vec<String> {
        self.oidc.keys().cloned().collect()
    }

    fn oidc_client(&self, provider: &str) -> Result<&OidcClient> {
        self.oidc.get(provider).ok_or(ServiceError::NotFound { entity: "identity provider" })
    }

    /// Starts an OpenID Connect login: remembers state, nonce and PKCE verifier server-side for
    /// ten minutes, bound to a browser secret the caller sets as a cookie.
    pub async fn oidc_begin(&self, provider: &str) -> Result<OidcRedirect> {
        let client = self.oidc_client(provider)?;
        let start = client.begin().await.map_err(|e| {
            tracing::warn!(provider, error = %e, "OpenID provider unavailable");
            ServiceError::Unavailable(format!("identity provider {provider}: {e}"))
        })?;
        let (browser_secret, browser_hash) = new_secret("");
        let at = now();
        let row = repo::OidcLoginRow {
            state: start.state.clone(),
            provider: provider.to_string(),
            nonce: start.nonce.clone(),
            pkce_verifier: start.pkce_verifier.clone(),
            browser_hash,
            created_at: at,
            expires_at: at + chrono::Duration::minutes(10),
        };
        let mut tx = self.db.begin().await?;
        repo::insert_oidc_login(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(OidcRedirect { authorize_url: start.authorize_url, browser_secret })
    }

    /// Completes an OpenID Connect login: the state must be one this server started (once, in
    /// time, from the same browser); the ID token must validate; the claims must map to a role.
    /// The member is found by their provider account, else by verified email, else created; their
    /// role follows the provider's groups at every login.
    pub async fn oidc_finish(
        &self,
        provider: &str,
        state: &str,
        code: &str,
        browser_secret: Option<&str>,
    ) -> Result<TokenPair> {
        let client = self.oidc_client(provider)?;
        let refused = |why: &str| ServiceError::Forbidden(format!("sign-in refused: {why}"));
        let mut tx = self.db.begin().await?;
        let login = repo::take_oidc_login(&mut tx.conn(), state).await?;
        tx.commit().await?;
        let login = login
            .filter(|l| l.provider == provider && l.expires_at > now())
            .ok_or_else(|| refused("unknown or expired state"))?;
        let browser_ok = browser_secret.is_some_and(|s| constant_time_eq(&digest(s), &login.browser_hash));
        if !browser_ok {
            return Err(refused("the login was started in another browser"));
        }
        let identity = client.finish(code, &login.pkce_verifier, &login.nonce).await.map_err(|e| {
            tracing::warn!(provider, error = %e, "OpenID login failed");
            refused("the identity provider's answer did not validate")
        })?;
        let role =
            client.role_for(&identity).ok_or_else(|| refused("no Keel role is mapped to this account's groups"))?;
        let mut tx = self.db.begin().await?;
        let role_row = self.role_row(&mut tx.conn(), &role).await?;
        let linked = match repo::find_identity(&mut tx.conn(), provider, &identity.subject).await? {
            Some(staff_id) => repo::find_staff(&mut tx.conn(), &staff_id).await?,
            None => None,
        };
        let staff = match linked {
            Some(staff) => staff,
            None => {
                let email = identity
                    .email
                    .as_deref()
                    .filter(|_| identity.email_verified)
                    .and_then(|e| Email::parse(e).ok())
                    .ok_or_else(|| refused("the provider gave no verified email"))?;
                let staff = match repo::find_staff_by_email(&mut tx.conn(), email.as_str()).await? {
                    Some(existing) => existing,
                    None => {
                        let name = identity.name.clone().unwrap_or_default();
                        self.insert(&mut tx.conn(), email.as_str(), &name, None, &role_row.name).await?
                    }
                };
                repo::insert_identity(&mut tx.conn(), provider, &identity.subject, &staff.id, now()).await?;
                staff
            }
        };
        if staff.status != "active" {
            return Err(refused("this staff account is disabled"));
        }
        let mut staff = staff;
        if staff.role != role_row.name && staff.role != OWNER {
            staff.role = role_row.name.clone();
        }
        let how = format!("/v1/admin/auth/oidc/{provider}/callback");
        let pair = self.start_session(&mut tx.conn(), staff, &how).await?;
        tx.commit().await?;
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_unknown_names_are_refused() {
        assert_eq!(parse_grant(&["*".into()]).unwrap(), Grant::All);
        assert_eq!(
            parse_grant(&["products:read".into(), "products:read".into()]).unwrap(),
            Grant::Only(vec![Permission::ProductsRead])
        );
        assert!(parse_grant(&["products:fly".into()]).is_err());
    }

    #[test]
    fn role_names_are_slugs() {
        assert!(check_role_name("merchandiser_2").is_ok());
        for bad in ["", "a", "Merch", "2merch", "mer-ch", &"x".repeat(51)] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
    }
}
