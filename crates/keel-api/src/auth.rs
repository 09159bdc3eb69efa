//! Who may call an admin route: `Authorization: Bearer <api key>` plus a named permission.
//!
//! A handler states the permission it needs in its signature — `_: Authorized<ProductsWrite>` —
//! so the rule sits where the route is defined, and the same marker puts the permission into the
//! route's OpenAPI `security` entry. No key (or an unknown, revoked one) is 401; a key without the
//! permission is 403.

use crate::AppState;
use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use keel_domain::permission::Permission;
use keel_services::api_keys::Principal;
use std::marker::PhantomData;

/// A permission as a type, so a handler can require it in its signature.
pub trait Needs: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! needs {
    ($($name:ident => $perm:ident),* $(,)?) => {$(
        #[doc = concat!("Requires `", stringify!($perm), "`.")]
        pub struct $name;
        impl Needs for $name {
            const PERMISSION: Permission = Permission::$perm;
        }
    )*};
}

needs!(
    ProductsRead => ProductsRead,
    ProductsWrite => ProductsWrite,
    JobsRead => JobsRead,
    JobsWrite => JobsWrite,
    WebhooksRead => WebhooksRead,
    WebhooksWrite => WebhooksWrite,
);

/// An authenticated principal holding the permission `P`.
pub struct Authorized<P: Needs> {
    pub principal: Principal,
    _needs: PhantomData<P>,
}

impl<P: Needs> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
            return Err(ApiError::unauthenticated());
        };
        let principal = state.services.api_keys.authenticate(token).await?;
        if !principal.grant.allows(P::PERMISSION) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this key lacks the `{}` permission", P::PERMISSION),
            ));
        }
        Ok(Authorized { principal, _needs: PhantomData })
    }
}
