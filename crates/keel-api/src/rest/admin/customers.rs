//! Admin routes for customers: look them up (staff with `customers:read`).

use crate::AppState;
use crate::auth::{Authorized, CustomersRead};
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use keel_domain::CustomerId;
use keel_services::identity::customers::{Address, Customer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Only customers whose email contains this text.
    pub email: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    pub data: Vec<Customer>,
    pub next_cursor: Option<String>,
}

/// Customers, newest first.
#[utoipa::path(
    get, path = "/v1/admin/customers", tag = "admin", operation_id = "admin_list_customers",
    params(CustomerQuery),
    security(("admin" = ["customers:read"])),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 400, description = "Invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_customers(
    _: Authorized<CustomersRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CustomerQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let (limit, cursor) = crate::rest::id_page(query.limit, 20, query.cursor.as_deref(), CustomerId::parse)?;
    let data = state.services.customers.list(query.email.as_deref(), cursor, limit).await?;
    let next_cursor = if data.len() as u64 == limit { data.last().map(|c| c.id.to_string()) } else { None };
    Ok(Json(CustomerPage { data, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: Customer,
    pub addresses: Vec<Address>,
}

/// One customer with their addresses.
#[utoipa::path(
    get, path = "/v1/admin/customers/{id}", tag = "admin", operation_id = "admin_get_customer",
    params(("id" = CustomerId, Path)),
    security(("admin" = ["customers:read"])),
    responses(
        (status = 200, description = "The customer", body = CustomerDetail),
        (status = 404, description = "Not found (or erased)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_customer(
    _: Authorized<CustomersRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerId>,
) -> Result<Json<CustomerDetail>, ApiError> {
    let (customer, addresses) = state.services.customers.get(id).await?;
    Ok(Json(CustomerDetail { customer, addresses }))
}
