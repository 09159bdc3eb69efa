//! The REST API: `/v1/store` for shoppers, `/v1/admin` for staff and API keys.

pub mod admin;
pub mod store;

use serde::Serialize;

/// A complete, unpaginated list (small sets such as the category tree).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListOf<T> {
    pub data: Vec<T>,
}
