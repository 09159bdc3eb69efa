//! The admin panel's sign-in: a staff session kept in cookies the page's script cannot read.
//!
//! - `POST /admin/session` signs in with email and password (counted in the `auth` rate class
//!   like `POST /v1/admin/auth/token`) and sets two cookies: the access token (`keel_admin`,
//!   `HttpOnly; SameSite=Strict; Path=/`) and the refresh token (`keel_admin_refresh`, the same,
//!   `Path=/admin/session`); over HTTPS they are `Secure` and named `__Host-keel_admin` and
//!   `__Secure-keel_admin_refresh`. The answer carries the session's CSRF token.
//! - `GET /admin/session` answers the CSRF token of the current session and the seconds its access
//!   cookie has left (401 when there is none).
//! - `POST /admin/session/refresh` exchanges the refresh cookie for a new pair.
//! - `DELETE /admin/session` signs out.
//!
//! [`cookie_auth`] lets the admin API accept the access cookie in place of an `Authorization`
//! header, so the panel uses the same routes, permissions, idempotency and audit as any client.
//! A change (any method but GET/HEAD/OPTIONS) made with the cookie must carry
//! `X-Keel-CSRF: <token>`, the session's token, which only a page of this origin can learn; the
//! session endpoints that need no token still need the header, which no cross-site form can send.

use crate::AppState;
use crate::auth::ClientAddr;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_services::identity::TokenPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cookies' names over plain HTTP (a developer's machine) and, with the `__Host-` and
/// `__Secure-` prefixes, over HTTPS: there a browser takes them only with `Secure` (and the
/// access cookie only for this host and `Path=/`), so a sibling subdomain cannot plant its own.
pub struct Names {
    pub access: &'static str,
    pub refresh: &'static str,
}

pub const PLAIN: Names = Names { access: "keel_admin", refresh: "keel_admin_refresh" };
pub const SECURE: Names = Names { access: "__Host-keel_admin", refresh: "__Secure-keel_admin_refresh" };

/// The names (and whether the cookies are `Secure`) for this server.
pub fn names(secure: bool) -> &'static Names {
    if secure { &SECURE } else { &PLAIN }
}
pub const CSRF_HEADER: &str = "x-keel-csrf";
pub const PATH: &str = "/admin/session";

/// The CSRF token of a session: a digest of its access token, which the page cannot read, so a
/// page that knows it was told it by Keel.
pub fn csrf_token(access_token: &str) -> String {
    let digest = Sha256::digest(format!("keel-admin-csrf\0{access_token}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn csrf_failed() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        format!("a change made with the panel's cookie needs the `{CSRF_HEADER}` header of its session"),
    )
    .into_response()
}

/// Admin API requests carrying the panel's cookie and no `Authorization` header are
/// authenticated by the cookie; changes must carry the session's CSRF token. The state says
/// whether cookies are `Secure` (their names differ).
pub async fn cookie_auth(State(secure): State<bool>, mut req: Request, next: Next) -> Response {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let Some(token) = cookie(req.headers(), names(secure).access) else {
        return next.run(req).await;
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !equal(sent, &csrf_token(&token)) {
            return csrf_failed();
        }
    }
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(value) => {
            req.headers_mut().insert(header::AUTHORIZATION, value);
            next.run(req).await
        }
        Err(_) => ApiError::unauthenticated().into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub csrf_token: String,
    /// Seconds until the access cookie ends (refresh before).
    pub expires_in: i64,
}

fn secure(state: &AppState) -> &'static str {
    if state.config.secure_cookies { "; Secure" } else { "" }
}

fn names_of(state: &AppState) -> &'static Names {
    names(state.config.secure_cookies)
}

/// Sets the session's two cookies on an answer (sign-in, refresh, an OpenID sign-in's callback).
pub fn set_cookies(state: &AppState, pair: &TokenPair, headers: &mut HeaderMap) {
    let (secure, names) = (secure(state), names_of(state));
    let access = format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        names.access, pair.access_token, pair.expires_in
    );
    let refresh = format!(
        "{}={}; Path={PATH}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        names.refresh, pair.refresh_token, pair.refresh_expires_in
    );
    for cookie in [access, refresh] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

fn with_cookies(state: &AppState, pair: &TokenPair) -> Response {
    let info = SessionInfo { csrf_token: csrf_token(&pair.access_token), expires_in: pair.expires_in };
    let mut response = Json(info).into_response();
    set_cookies(state, pair, response.headers_mut());
    response
}

fn cleared(state: &AppState, mut response: Response) -> Response {
    let (secure, names) = (secure(state), names_of(state));
    for cookie in [
        format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}", names.access),
        format!("{}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Strict{secure}", names.refresh),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Only a page of this origin can send a custom header (a cross-site one would need CORS to
/// allow it, and Keel's CORS never does).
fn from_the_page(headers: &HeaderMap) -> bool {
    headers.contains_key(CSRF_HEADER)
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SignIn>,
) -> Response {
    if !from_the_page(&headers) {
        return csrf_failed();
    }
    match state.services.staff.login(&input.email, &input.password, client).await {
        Ok(pair) => with_cookies(&state, &pair),
        Err(err) => ApiError::from(err).into_response(),
    }
}

pub async fn current(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = cookie(&headers, names_of(&state).access) else {
        return ApiError::unauthenticated().into_response();
    };
    match state.services.staff.session_ends(&token).await {
        Ok(ends) => {
            let expires_in = (ends - chrono::Utc::now()).num_seconds().max(0);
            Json(SessionInfo { csrf_token: csrf_token(&token), expires_in }).into_response()
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

pub async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !from_the_page(&headers) {
        return csrf_failed();
    }
    let Some(token) = cookie(&headers, names_of(&state).refresh) else {
        return ApiError::unauthenticated().into_response();
    };
    match state.services.staff.refresh(&token).await {
        Ok(pair) => with_cookies(&state, &pair),
        Err(err) => cleared(&state, ApiError::from(err).into_response()),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let names = names_of(&state);
    if let Some(token) = cookie(&headers, names.access) {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !equal(sent, &csrf_token(&token)) {
            return csrf_failed();
        }
        if let Ok(who) = state.services.staff.authenticate(&token).await {
            if let Err(err) = state.services.staff.logout(&who).await {
                return ApiError::from(err).into_response();
            }
            return cleared(&state, StatusCode::NO_CONTENT.into_response());
        }
    } else if !from_the_page(&headers) {
        return csrf_failed();
    }
    // The access cookie has ended: the session still lives until its refresh token is used, so
    // end it through that (a refresh, then sign-out of the fresh session).
    if let Some(refresh) = cookie(&headers, names.refresh)
        && let Ok(pair) = state.services.staff.refresh(&refresh).await
        && let Ok(who) = state.services.staff.authenticate(&pair.access_token).await
        && let Err(err) = state.services.staff.logout(&who).await
    {
        return ApiError::from(err).into_response();
    }
    cleared(&state, StatusCode::NO_CONTENT.into_response())
}
