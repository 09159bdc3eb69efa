//! The REST API: `/v1/store` for shoppers, `/v1/admin` for staff and API keys.

pub mod admin;
pub mod store;

use serde::Serialize;

/// A complete, unpaginated list (small sets such as the category tree).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListOf<T> {
    pub data: Vec<T>,
}

/// A page request keyed by an id cursor (lists ordered by time-ordered id): `limit` checked to
/// 1..=100 (`default` when absent), `cursor` parsed by `parse`. Bad values are 400s.
pub fn id_page<T>(
    limit: Option<u64>,
    default: u64,
    cursor: Option<&str>,
    parse: impl Fn(&str) -> Result<T, keel_domain::id::InvalidId>,
) -> Result<(u64, Option<T>), crate::problem::ApiError> {
    use crate::problem::ApiError;
    use axum::http::StatusCode;
    let limit = limit.unwrap_or(default);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be 1 to 100"));
    }
    let cursor = cursor.map(|raw| parse(raw).map_err(|_| invalid_cursor())).transpose()?;
    Ok((limit, cursor))
}

/// A cursor this list did not hand out.
pub(crate) fn invalid_cursor() -> crate::problem::ApiError {
    crate::problem::ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_cursor", "the cursor is not valid")
}
