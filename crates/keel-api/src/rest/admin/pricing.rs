//! Admin pricing routes: customer groups (`customers:*`), price lists (`products:*`) and
//! promotions with their usage (`promotions:*`).

use crate::AppState;
use crate::auth::{
    Authorized, CustomersRead, CustomersWrite, ProductsRead, ProductsWrite, PromotionsRead, PromotionsWrite,
};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::{CustomerGroupId, CustomerId, PriceListId, PromotionId};
use keel_services::price_lists::{
    CustomerGroup, CustomerGroupInput, GroupMemberPage, GroupMembers, PriceList, PriceListInput, PriceListPatch,
};
use keel_services::promotions::{Promotion, PromotionInput, PromotionPatch};
use serde::{Deserialize, Serialize};

const PROBLEM: &str = "application/problem+json";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Customer groups by name, with their sizes.
#[utoipa::path(
    get, path = "/v1/admin/customer-groups", tag = "admin", operation_id = "admin_list_customer_groups",
    security(("admin" = ["customers:read"])),
    responses((status = 200, description = "Every group", body = ListOf<CustomerGroup>))
)]
pub async fn list_groups(
    _: Authorized<CustomersRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<CustomerGroup>>, ApiError> {
    Ok(Json(ListOf { data: state.services.price_lists.groups().await? }))
}

/// Create a customer group.
#[utoipa::path(
    post, path = "/v1/admin/customer-groups", tag = "admin", operation_id = "admin_create_customer_group",
    request_body = CustomerGroupInput,
    security(("admin" = ["customers:write"])),
    responses(
        (status = 201, description = "The new group", body = CustomerGroup),
        (status = 409, description = "The name is taken (`name_taken`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid name", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_group(
    _: Authorized<CustomersWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CustomerGroupInput>,
) -> Result<(StatusCode, Json<CustomerGroup>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.price_lists.create_group(input).await?)))
}

/// One customer group.
#[utoipa::path(
    get, path = "/v1/admin/customer-groups/{id}", tag = "admin", operation_id = "admin_get_customer_group",
    params(("id" = CustomerGroupId, Path)),
    security(("admin" = ["customers:read"])),
    responses(
        (status = 200, description = "The group", body = CustomerGroup),
        (status = 404, description = "No such group", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_group(
    _: Authorized<CustomersRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerGroupId>,
) -> Result<Json<CustomerGroup>, ApiError> {
    Ok(Json(state.services.price_lists.group(id).await?))
}

/// Rename a customer group.
#[utoipa::path(
    patch, path = "/v1/admin/customer-groups/{id}", tag = "admin", operation_id = "admin_update_customer_group",
    params(("id" = CustomerGroupId, Path)),
    request_body = CustomerGroupInput,
    security(("admin" = ["customers:write"])),
    responses(
        (status = 200, description = "The group", body = CustomerGroup),
        (status = 404, description = "No such group", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The name is taken", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_group(
    _: Authorized<CustomersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerGroupId>,
    ApiJson(input): ApiJson<CustomerGroupInput>,
) -> Result<Json<CustomerGroup>, ApiError> {
    Ok(Json(state.services.price_lists.rename_group(id, input).await?))
}

/// Delete a customer group; its price lists and promotions stop applying to its members.
#[utoipa::path(
    delete, path = "/v1/admin/customer-groups/{id}", tag = "admin", operation_id = "admin_delete_customer_group",
    params(("id" = CustomerGroupId, Path)),
    security(("admin" = ["customers:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_group(
    _: Authorized<CustomersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerGroupId>,
) -> Result<StatusCode, ApiError> {
    state.services.price_lists.delete_group(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group's members (customer ids), in id order.
#[utoipa::path(
    get, path = "/v1/admin/customer-groups/{id}/customers", tag = "admin", operation_id = "admin_list_group_members",
    params(("id" = CustomerGroupId, Path), PageQuery),
    security(("admin" = ["customers:read"])),
    responses(
        (status = 200, description = "A page of members", body = GroupMemberPage),
        (status = 400, description = "Invalid cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such group", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_members(
    _: Authorized<CustomersRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerGroupId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<GroupMemberPage>, ApiError> {
    let (limit, after) = crate::rest::id_page(query.limit, 50, query.cursor.as_deref(), CustomerId::parse)?;
    Ok(Json(state.services.price_lists.members(id, after, limit).await?))
}

/// Add customers to a group (up to 1000 at once; those already in it stay).
#[utoipa::path(
    post, path = "/v1/admin/customer-groups/{id}/customers", tag = "admin", operation_id = "admin_add_group_members",
    params(("id" = CustomerGroupId, Path)),
    request_body = GroupMembers,
    security(("admin" = ["customers:write"])),
    responses(
        (status = 200, description = "The group", body = CustomerGroup),
        (status = 404, description = "No such group", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An unknown customer, or too many", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn add_members(
    _: Authorized<CustomersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CustomerGroupId>,
    ApiJson(input): ApiJson<GroupMembers>,
) -> Result<Json<CustomerGroup>, ApiError> {
    Ok(Json(state.services.price_lists.add_members(id, input).await?))
}

/// Remove a customer from a group.
#[utoipa::path(
    delete, path = "/v1/admin/customer-groups/{id}/customers/{customer_id}", tag = "admin",
    operation_id = "admin_remove_group_member",
    params(("id" = CustomerGroupId, Path), ("customer_id" = CustomerId, Path)),
    security(("admin" = ["customers:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not a member", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn remove_member(
    _: Authorized<CustomersWrite>,
    State(state): State<AppState>,
    ApiPath((id, customer)): ApiPath<(CustomerGroupId, CustomerId)>,
) -> Result<StatusCode, ApiError> {
    state.services.price_lists.remove_member(id, customer).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Price lists, newest first (without their prices: read one list for those).
#[utoipa::path(
    get, path = "/v1/admin/price-lists", tag = "admin", operation_id = "admin_list_price_lists",
    security(("admin" = ["products:read"])),
    responses((status = 200, description = "Every price list", body = ListOf<PriceList>))
)]
pub async fn list_price_lists(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<PriceList>>, ApiError> {
    Ok(Json(ListOf { data: state.services.price_lists.lists().await? }))
}

/// Create a price list: a sale (dates), group prices, quantity tiers. A line pays the cheapest
/// price that applies to it.
#[utoipa::path(
    post, path = "/v1/admin/price-lists", tag = "admin", operation_id = "admin_create_price_list",
    request_body = PriceListInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 201, description = "The new list with its prices", body = PriceList),
        (status = 422, description = "Invalid dates, groups, variants or prices", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_price_list(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PriceListInput>,
) -> Result<(StatusCode, Json<PriceList>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.price_lists.create(input).await?)))
}

/// One price list with its prices.
#[utoipa::path(
    get, path = "/v1/admin/price-lists/{id}", tag = "admin", operation_id = "admin_get_price_list",
    params(("id" = PriceListId, Path)),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "The list", body = PriceList),
        (status = 404, description = "No such list", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_price_list(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PriceListId>,
) -> Result<Json<PriceList>, ApiError> {
    Ok(Json(state.services.price_lists.get(id).await?))
}

/// Change a price list; `prices` replaces all of its prices.
#[utoipa::path(
    patch, path = "/v1/admin/price-lists/{id}", tag = "admin", operation_id = "admin_update_price_list",
    params(("id" = PriceListId, Path)),
    request_body = PriceListPatch,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The list", body = PriceList),
        (status = 404, description = "No such list", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid dates, groups, variants or prices", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_price_list(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PriceListId>,
    ApiJson(patch): ApiJson<PriceListPatch>,
) -> Result<Json<PriceList>, ApiError> {
    Ok(Json(state.services.price_lists.update(id, patch).await?))
}

/// Delete a price list and its prices.
#[utoipa::path(
    delete, path = "/v1/admin/price-lists/{id}", tag = "admin", operation_id = "admin_delete_price_list",
    params(("id" = PriceListId, Path)),
    security(("admin" = ["products:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such list", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_price_list(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PriceListId>,
) -> Result<StatusCode, ApiError> {
    state.services.price_lists.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromotionPage {
    pub data: Vec<Promotion>,
    pub next_cursor: Option<String>,
}

/// Promotions, newest first, with their usage counts.
#[utoipa::path(
    get, path = "/v1/admin/promotions", tag = "admin", operation_id = "admin_list_promotions",
    params(PageQuery),
    security(("admin" = ["promotions:read"])),
    responses(
        (status = 200, description = "A page of promotions", body = PromotionPage),
        (status = 400, description = "Invalid cursor or limit", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_promotions(
    _: Authorized<PromotionsRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PromotionPage>, ApiError> {
    let (limit, before) = crate::rest::id_page(query.limit, 50, query.cursor.as_deref(), PromotionId::parse)?;
    let (data, more) = state.services.promotions.list(before, limit).await?;
    let next_cursor = if more { data.last().map(|p| p.id.to_string()) } else { None };
    Ok(Json(PromotionPage { data, next_cursor }))
}

/// Create a promotion: by code or automatic; see docs/PRICING.md for how promotions combine.
#[utoipa::path(
    post, path = "/v1/admin/promotions", tag = "admin", operation_id = "admin_create_promotion",
    request_body = PromotionInput,
    security(("admin" = ["promotions:write"])),
    responses(
        (status = 201, description = "The new promotion", body = Promotion),
        (status = 409, description = "The code is taken (`code_taken`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid code, benefit, targets, dates or limits", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_promotion(
    _: Authorized<PromotionsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PromotionInput>,
) -> Result<(StatusCode, Json<Promotion>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.promotions.create(input).await?)))
}

/// One promotion with its usage (`usage_count`, `customers_redeemed`).
#[utoipa::path(
    get, path = "/v1/admin/promotions/{id}", tag = "admin", operation_id = "admin_get_promotion",
    params(("id" = PromotionId, Path)),
    security(("admin" = ["promotions:read"])),
    responses(
        (status = 200, description = "The promotion", body = Promotion),
        (status = 404, description = "No such promotion", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_promotion(
    _: Authorized<PromotionsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PromotionId>,
) -> Result<Json<Promotion>, ApiError> {
    Ok(Json(state.services.promotions.get(id).await?))
}

/// Change a promotion (`status: draft` pauses it).
#[utoipa::path(
    patch, path = "/v1/admin/promotions/{id}", tag = "admin", operation_id = "admin_update_promotion",
    params(("id" = PromotionId, Path)),
    request_body = PromotionPatch,
    security(("admin" = ["promotions:write"])),
    responses(
        (status = 200, description = "The promotion", body = Promotion),
        (status = 404, description = "No such promotion", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The code is taken", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid values", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_promotion(
    _: Authorized<PromotionsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PromotionId>,
    ApiJson(patch): ApiJson<PromotionPatch>,
) -> Result<Json<Promotion>, ApiError> {
    Ok(Json(state.services.promotions.update(id, patch).await?))
}

/// Delete a promotion (carts holding its code drop it).
#[utoipa::path(
    delete, path = "/v1/admin/promotions/{id}", tag = "admin", operation_id = "admin_delete_promotion",
    params(("id" = PromotionId, Path)),
    security(("admin" = ["promotions:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such promotion", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_promotion(
    _: Authorized<PromotionsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<PromotionId>,
) -> Result<StatusCode, ApiError> {
    state.services.promotions.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
