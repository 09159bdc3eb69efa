//! Admin routes for access: staff sign-in (password and OpenID Connect), staff members, roles,
//! invitations, API keys and the audit log.

use crate::AppState;
use crate::auth::{AdminPrincipal, AuditRead, Authorized, ClientAddr, StaffRead, StaffWrite};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use crate::rest::store::customers::{Credentials, RefreshRequest};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_domain::{ApiKeyId, AuditId, StaffId};
use keel_services::identity::TokenPair;
use keel_services::identity::audit::AuditEntry;
use keel_services::identity::staff::{ApiKeyInfo, Invitation, Role, RoleInput, RolePatch, StaffMember, StaffPatch};
use serde::{Deserialize, Serialize};

const PROBLEM: &str = "application/problem+json";
/// The cookie binding an OpenID login to the browser that started it.
const OIDC_COOKIE: &str = "keel_oidc";
/// Marks a sign-in begun from the admin panel: its callback signs the panel in.
const OIDC_PANEL_COOKIE: &str = "keel_oidc_panel";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcLoginQuery {
    /// `true` when the admin panel asks: the callback then sets the panel's session cookies and
    /// redirects to `/admin/` instead of answering the token pair.
    pub panel: Option<bool>,
}

/// Sign a staff member in with email and password (throttled like customer sign-in).
#[utoipa::path(
    post, path = "/v1/admin/auth/token", tag = "admin", operation_id = "admin_login",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.services.staff.login(&input.email, &input.password, client).await?))
}

/// Exchange a staff refresh token for a new pair (each works once).
#[utoipa::path(
    post, path = "/v1/admin/auth/refresh", tag = "admin", operation_id = "admin_refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.services.staff.refresh(&input.refresh_token).await?))
}

/// Sign out (staff sessions only; API keys are revoked instead).
#[utoipa::path(
    delete, path = "/v1/admin/auth/token", tag = "admin", operation_id = "admin_logout",
    security(("admin" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    AdminPrincipal(who): AdminPrincipal,
) -> Result<StatusCode, ApiError> {
    state.services.staff.logout(&who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the signed-in staff member's password (the current one is required). Every session
/// of theirs ends; the answer is a new pair.
#[utoipa::path(
    post, path = "/v1/admin/auth/password", tag = "admin", operation_id = "admin_change_password",
    request_body = crate::rest::store::customers::PasswordChange,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Changed; a new token pair", body = TokenPair),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Wrong current password, a weak new one, or an API key", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    AdminPrincipal(who): AdminPrincipal,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<crate::rest::store::customers::PasswordChange>,
) -> Result<Json<TokenPair>, ApiError> {
    let pair = state.services.staff.change_password(&who, &input.current_password, &input.new_password, client).await?;
    Ok(Json(pair))
}

/// Who the caller is and what they may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// `staff` or `api_key`.
    pub kind: &'static str,
    pub id: String,
    /// The staff member's email or the key's name.
    pub name: String,
    pub permissions: Vec<String>,
    /// For staff: their account.
    pub staff: Option<StaffMember>,
}

/// The calling principal and its permissions.
#[utoipa::path(
    get, path = "/v1/admin/auth/me", tag = "admin", operation_id = "admin_me",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn me(State(state): State<AppState>, AdminPrincipal(who): AdminPrincipal) -> Result<Json<Me>, ApiError> {
    let staff = match who.staff_id() {
        Some(_) => Some(state.services.staff.me(&who).await?),
        None => None,
    };
    Ok(Json(Me {
        kind: who.kind(),
        id: who.id(),
        name: who.label().to_string(),
        permissions: who.grant.to_names(),
        staff,
    }))
}

/// The OpenID providers staff can sign in with.
#[utoipa::path(
    get, path = "/v1/admin/auth/oidc", tag = "admin", operation_id = "admin_oidc_providers",
    responses((status = 200, description = "Provider names; sign in at `/v1/admin/auth/oidc/{provider}/login`", body = ListOf<String>))
)]
pub async fn oidc_providers(State(state): State<AppState>) -> Json<ListOf<String>> {
    Json(ListOf { data: state.services.staff.oidc_providers() })
}

/// Start an OpenID Connect sign-in: redirects (303) to the provider, with a short-lived cookie
/// that binds the login to this browser.
#[utoipa::path(
    get, path = "/v1/admin/auth/oidc/{provider}/login", tag = "admin", operation_id = "admin_oidc_login",
    params(("provider" = String, Path), OidcLoginQuery),
    responses(
        (status = 303, description = "To the provider's authorization endpoint"),
        (status = 404, description = "No such provider", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The provider cannot be reached", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn oidc_login(
    State(state): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<OidcLoginQuery>,
) -> Result<Response, ApiError> {
    let redirect = state.services.staff.oidc_begin(&provider).await?;
    let secure = if redirect.authorize_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!(
        "{OIDC_COOKIE}={}; Path=/v1/admin/auth/oidc; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
        redirect.browser_secret
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&redirect.authorize_url).map_err(|_| ApiError::not_found("identity provider"))?,
    );
    headers.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| ApiError::not_found("cookie"))?);
    // Begun from the panel (when it is served): a mark the callback reads; any other sign-in
    // clears a mark left by an abandoned one.
    let panel = if query.panel == Some(true) && state.config.admin_panel {
        format!("{OIDC_PANEL_COOKIE}=1; Path=/v1/admin/auth/oidc; Max-Age=600; HttpOnly; SameSite=Lax{secure}")
    } else {
        format!("{OIDC_PANEL_COOKIE}=; Path=/v1/admin/auth/oidc; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
    };
    headers.append(header::SET_COOKIE, HeaderValue::from_str(&panel).map_err(|_| ApiError::not_found("cookie"))?);
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where the provider sends the browser back: validates the answer, signs the staff member in
/// (creating or linking their account, with the role their groups map to).
#[utoipa::path(
    get, path = "/v1/admin/auth/oidc/{provider}/callback", tag = "admin", operation_id = "admin_oidc_callback",
    params(("provider" = String, Path), CallbackQuery),
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 303, description = "Begun from the admin panel: its session cookies set and back to `/admin/`, or back to its sign-in with the refusal"),
        (status = 403, description = "Refused: bad state, another browser, invalid token or no mapped role", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn oidc_callback(
    State(state): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return Err(ApiError::forbidden(format!("the identity provider refused: {error} {detail}")));
    }
    let (Some(code), Some(login_state)) = (query.code, query.state) else {
        return Err(ApiError::forbidden("the callback needs `code` and `state`"));
    };
    let secret = crate::web::session::cookie(&headers, OIDC_COOKIE);
    let from_panel = state.config.admin_panel && crate::web::session::cookie(&headers, OIDC_PANEL_COOKIE).is_some();
    let finished = state.services.staff.oidc_finish(&provider, &login_state, &code, secret.as_deref()).await;
    let mut response = match (finished, from_panel) {
        // Begun in the admin panel: sign the panel in and go back to it…
        (Ok(pair), true) => {
            let mut to_panel = (StatusCode::SEE_OTHER, [(header::LOCATION, "/admin/")]).into_response();
            crate::web::session::set_cookies(&state, &pair, to_panel.headers_mut());
            to_panel
        }
        // …or back to its sign-in, saying why not.
        (Err(err), true) => {
            let detail = ApiError::from(err).problem().detail;
            let reason: String = detail
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect();
            let mut back = StatusCode::SEE_OTHER.into_response();
            if let Ok(to) = HeaderValue::from_str(&format!("/admin/#/login?error={reason}")) {
                back.headers_mut().insert(header::LOCATION, to);
            }
            back
        }
        (Ok(pair), false) => Json(pair).into_response(),
        (Err(err), false) => ApiError::from(err).into_response(),
    };
    for done in [OIDC_COOKIE, OIDC_PANEL_COOKIE] {
        let clear = format!("{done}=; Path=/v1/admin/auth/oidc; Max-Age=0; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
    #[serde(default)]
    pub name: String,
}

/// Accept an invitation: creates the staff account with the invited role and signs it in.
#[utoipa::path(
    post, path = "/v1/admin/auth/invitations/accept", tag = "admin", operation_id = "admin_accept_invitation",
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Joined and signed in", body = TokenPair),
        (status = 409, description = "The email already has a staff account", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid, used or expired token, or a weak password", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AcceptInvitation>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let pair = state.services.staff.accept_invitation(&input.token, &input.password, &input.name).await?;
    Ok((StatusCode::CREATED, Json(pair)))
}

/// Staff members.
#[utoipa::path(
    get, path = "/v1/admin/staff", tag = "admin", operation_id = "admin_list_staff",
    security(("admin" = ["staff:read"])),
    responses((status = 200, description = "Every staff member", body = ListOf<StaffMember>))
)]
pub async fn list_staff(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<StaffMember>>, ApiError> {
    Ok(Json(ListOf { data: state.services.staff.list().await? }))
}

/// One staff member.
#[utoipa::path(
    get, path = "/v1/admin/staff/{id}", tag = "admin", operation_id = "admin_get_staff",
    params(("id" = StaffId, Path)),
    security(("admin" = ["staff:read"])),
    responses(
        (status = 200, description = "The member", body = StaffMember),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_staff(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<StaffId>,
) -> Result<Json<StaffMember>, ApiError> {
    Ok(Json(state.services.staff.get(id).await?))
}

/// Change a member's name, role or status (never beyond the caller's own permissions; the last
/// active owner stays one; disabling ends their sessions at once).
#[utoipa::path(
    patch, path = "/v1/admin/staff/{id}", tag = "admin", operation_id = "admin_update_staff",
    params(("id" = StaffId, Path)),
    request_body = StaffPatch,
    security(("admin" = ["staff:write"])),
    responses(
        (status = 200, description = "The member", body = StaffMember),
        (status = 403, description = "Beyond the caller's permissions", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Would leave no active owner", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_staff(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<StaffId>,
    ApiJson(patch): ApiJson<StaffPatch>,
) -> Result<Json<StaffMember>, ApiError> {
    Ok(Json(state.services.staff.update(&who.principal, id, patch).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    #[schema(example = "grace@example.com")]
    pub email: String,
    #[schema(example = "catalog_manager")]
    pub role: String,
}

/// Outstanding invitations.
#[utoipa::path(
    get, path = "/v1/admin/invitations", tag = "admin", operation_id = "admin_list_invitations",
    security(("admin" = ["staff:read"])),
    responses((status = 200, description = "Unused, unexpired invitations, newest first", body = ListOf<Invitation>))
)]
pub async fn list_invitations(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Invitation>>, ApiError> {
    Ok(Json(ListOf { data: state.services.staff.invitations().await? }))
}

/// Invite someone by email with a role (at most the caller's own permissions). The link works
/// once, for a week; a new invitation to the same email replaces the old one.
#[utoipa::path(
    post, path = "/v1/admin/invitations", tag = "admin", operation_id = "admin_invite_staff",
    request_body = InvitationInput,
    security(("admin" = ["staff:write"])),
    responses(
        (status = 201, description = "Invited", body = Invitation),
        (status = 403, description = "The role exceeds the caller's permissions", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Already a staff member", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid email or unknown role", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn invite_staff(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<InvitationInput>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.staff.invite(&who.principal, &input.email, &input.role).await?)))
}

/// Roles: the built-in ones and custom ones.
#[utoipa::path(
    get, path = "/v1/admin/roles", tag = "admin", operation_id = "admin_list_roles",
    security(("admin" = ["staff:read"])),
    responses((status = 200, description = "Every role with its permissions", body = ListOf<Role>))
)]
pub async fn list_roles(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Role>>, ApiError> {
    Ok(Json(ListOf { data: state.services.staff.roles().await? }))
}

/// Create a custom role (with at most the caller's permissions).
#[utoipa::path(
    post, path = "/v1/admin/roles", tag = "admin", operation_id = "admin_create_role",
    request_body = RoleInput,
    security(("admin" = ["staff:write"])),
    responses(
        (status = 201, description = "Created", body = Role),
        (status = 403, description = "Permissions beyond the caller's", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The name is taken", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid name or unknown permission", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_role(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RoleInput>,
) -> Result<(StatusCode, Json<Role>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.staff.create_role(&who.principal, input).await?)))
}

/// One role.
#[utoipa::path(
    get, path = "/v1/admin/roles/{name}", tag = "admin", operation_id = "admin_get_role",
    params(("name" = String, Path)),
    security(("admin" = ["staff:read"])),
    responses(
        (status = 200, description = "The role", body = Role),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_role(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(state.services.staff.role(&name).await?))
}

/// Change a custom role's description or permissions (built-in roles are fixed).
#[utoipa::path(
    patch, path = "/v1/admin/roles/{name}", tag = "admin", operation_id = "admin_update_role",
    params(("name" = String, Path)),
    request_body = RolePatch,
    security(("admin" = ["staff:write"])),
    responses(
        (status = 200, description = "The role", body = Role),
        (status = 403, description = "Permissions beyond the caller's", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A built-in role", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_role(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(patch): ApiJson<RolePatch>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(state.services.staff.update_role(&who.principal, &name, patch).await?))
}

/// Delete a custom role nobody holds.
#[utoipa::path(
    delete, path = "/v1/admin/roles/{name}", tag = "admin", operation_id = "admin_delete_role",
    params(("name" = String, Path)),
    security(("admin" = ["staff:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Built in, or still held by staff", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_role(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.staff.delete_role(&who.principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    #[schema(example = "ERP sync")]
    pub name: String,
    /// Permission names; empty means all the caller holds may grant (`*` for owners).
    #[serde(default)]
    #[schema(example = json!(["products:read"]))]
    pub permissions: Vec<String>,
}

/// A new key, with its secret: shown only in this answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    /// Send as `Authorization: Bearer <secret>`; it cannot be shown again.
    pub secret: String,
    pub permissions: Vec<String>,
}

/// API keys, with prefix and last use (never their secrets).
#[utoipa::path(
    get, path = "/v1/admin/api-keys", tag = "admin", operation_id = "admin_list_api_keys",
    security(("admin" = ["staff:read"])),
    responses((status = 200, description = "Every key, newest first (revoked ones marked)", body = ListOf<ApiKeyInfo>))
)]
pub async fn list_api_keys(
    _: Authorized<StaffRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<ApiKeyInfo>>, ApiError> {
    Ok(Json(ListOf { data: state.services.staff.api_keys().await? }))
}

/// Create an API key with at most the caller's permissions.
#[utoipa::path(
    post, path = "/v1/admin/api-keys", tag = "admin", operation_id = "admin_create_api_key",
    request_body = ApiKeyInput,
    security(("admin" = ["staff:write"])),
    responses(
        (status = 201, description = "Created; the secret is in this answer only", body = CreatedApiKey),
        (status = 403, description = "Permissions beyond the caller's", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid name or unknown permission", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_api_key(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ApiKeyInput>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let key = state.services.staff.create_api_key(&who.principal, &input.name, &input.permissions).await?;
    let created = CreatedApiKey {
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        secret: key.secret,
        permissions: key.grant.to_names(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key: it stops working at the next request.
#[utoipa::path(
    delete, path = "/v1/admin/api-keys/{id}", tag = "admin", operation_id = "admin_revoke_api_key",
    params(("id" = ApiKeyId, Path)),
    security(("admin" = ["staff:write"])),
    responses(
        (status = 200, description = "Revoked", body = ApiKeyInfo),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn revoke_api_key(
    who: Authorized<StaffWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    Ok(Json(state.services.staff.revoke_api_key(&who.principal, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor's entries (a staff or key id).
    pub actor_id: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The audit log of admin changes, newest first.
#[utoipa::path(
    get, path = "/v1/admin/audit-log", tag = "admin", operation_id = "admin_audit_log",
    params(AuditQuery),
    security(("admin" = ["audit:read"])),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditPage),
        (status = 400, description = "Invalid cursor or limit", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn audit_log(
    _: Authorized<AuditRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let (limit, cursor) = crate::rest::id_page(query.limit, 50, query.cursor.as_deref(), AuditId::parse)?;
    let data = state.services.audit.list(query.actor_id.as_deref(), cursor, limit).await?;
    let next_cursor = if data.len() as u64 == limit { data.last().map(|e| e.id.to_string()) } else { None };
    Ok(Json(AuditPage { data, next_cursor }))
}
