//! Who is calling: extractors that authenticate a request before its handler runs.
//!
//! - [`Authorized<P>`] — an admin principal (a staff member's access token or an API key) holding
//!   the permission `P`. A handler states the permission in its signature —
//!   `_: Authorized<ProductsWrite>` — so the rule sits where the route is defined, and the
//!   route's OpenAPI `security` entry names the same permission (a test checks every admin route
//!   answers 403 to a principal without it). No credentials, or unknown, expired or revoked ones,
//!   are 401; missing the permission is 403.
//! - [`AdminPrincipal`] — any admin principal, for routes about the caller itself (`/auth/me`).
//! - [`SignedIn`] — a customer's access token, for `/v1/store/customers/me…`.
//! - [`ClientAddr`] — the peer address, for throttling.
//!
//! Routes that take none of these are public, and say so in their documentation.

use crate::AppState;
use crate::problem::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use keel_domain::permission::Permission;
use keel_services::identity::{CustomerPrincipal, Principal};
use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// A permission as a type, so a handler can require it in its signature.
pub trait Needs: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! needs {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("Requires the `", stringify!($name), "` permission.")]
        pub struct $name;
        impl Needs for $name {
            const PERMISSION: Permission = Permission::$name;
        }
    )*};
}

needs!(
    ProductsRead,
    ProductsWrite,
    CustomersRead,
    CustomersWrite,
    OrdersRead,
    OrdersWrite,
    PromotionsRead,
    PromotionsWrite,
    InventoryRead,
    InventoryWrite,
    SettingsRead,
    SettingsWrite,
    StaffRead,
    StaffWrite,
    AuditRead,
    JobsRead,
    JobsWrite,
    WebhooksRead,
    WebhooksWrite,
);

/// Where the audit layer learns who made a change: the admin extractors fill it.
#[derive(Clone, Default)]
pub struct AuditSlot(pub Arc<OnceLock<Principal>>);

fn bearer(parts: &Parts) -> Option<&str> {
    bearer_token(&parts.headers)
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn admin_principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
    let principal = state.services.staff.authenticate(token).await?;
    if let Some(slot) = parts.extensions.get::<AuditSlot>() {
        let _ = slot.0.set(principal.clone());
    }
    Ok(principal)
}

/// An authenticated admin principal holding the permission `P`.
pub struct Authorized<P: Needs> {
    pub principal: Principal,
    _needs: PhantomData<P>,
}

impl<P: Needs> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = admin_principal(parts, state).await?;
        if !principal.grant.allows(P::PERMISSION) {
            return Err(ApiError::forbidden(format!("this needs the `{}` permission", P::PERMISSION)));
        }
        Ok(Authorized { principal, _needs: PhantomData })
    }
}

/// Any authenticated admin principal (no particular permission).
pub struct AdminPrincipal(pub Principal);

impl FromRequestParts<AppState> for AdminPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AdminPrincipal(admin_principal(parts, state).await?))
    }
}

/// A signed-in customer.
pub struct SignedIn(pub CustomerPrincipal);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        Ok(SignedIn(state.services.customers.authenticate(token).await?))
    }
}

/// A signed-in customer when the request carries a token (an invalid one is still 401), or
/// nobody: for routes open to anonymous shoppers, such as carts.
pub struct MaybeSignedIn(pub Option<CustomerPrincipal>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.get(axum::http::header::AUTHORIZATION).is_none() {
            return Ok(MaybeSignedIn(None));
        }
        Ok(MaybeSignedIn(Some(SignedIn::from_request_parts(parts, state).await?.0)))
    }
}

/// The client's address: the connection's peer, or the client a trusted proxy forwarded for
/// (`crate::ratelimit`), when known.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<crate::ratelimit::ClientIp>() {
            return Ok(ClientAddr(Some(client.0)));
        }
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<crate::tls::PeerAddr>>().map(|c| c.0.0.ip())))
    }
}
