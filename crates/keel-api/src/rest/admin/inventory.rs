//! Admin inventory and region routes: stock locations, a variant's levels, flags and movement
//! log; regions (markets).

use crate::AppState;
use crate::auth::ProductsWrite;
use crate::auth::{Authorized, InventoryRead, InventoryWrite, SettingsRead, SettingsWrite};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::{ProductId, RegionId, ShippingOptionId, TaxRateId, VariantId};
use keel_services::inventory::{ItemSettings, LowStock, Movement, SetLevel, StockLocation, VariantInventory};
use keel_services::regions::{
    Region, RegionInput, RegionPatch, ShippingOption, ShippingOptionInput, TaxRateInput, TaxRateRule,
};
use serde::{Deserialize, Serialize};

const PROBLEM: &str = "application/problem+json";

/// Stock locations, the default first.
#[utoipa::path(
    get, path = "/v1/admin/stock-locations", tag = "admin", operation_id = "admin_list_stock_locations",
    security(("admin" = ["inventory:read"])),
    responses((status = 200, description = "Every location", body = ListOf<StockLocation>))
)]
pub async fn list_locations(
    _: Authorized<InventoryRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<StockLocation>>, ApiError> {
    Ok(Json(ListOf { data: state.services.inventory.locations().await? }))
}

/// A variant's stock: levels per location (on hand, reserved, available) and tracking flags.
#[utoipa::path(
    get, path = "/v1/admin/variants/{id}/inventory", tag = "admin", operation_id = "admin_get_inventory",
    params(("id" = VariantId, Path)),
    security(("admin" = ["inventory:read"])),
    responses(
        (status = 200, description = "The variant's stock", body = VariantInventory),
        (status = 404, description = "No such variant", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_inventory(
    _: Authorized<InventoryRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
) -> Result<Json<VariantInventory>, ApiError> {
    Ok(Json(state.services.inventory.inventory(id).await?))
}

/// Set the on-hand quantity at a location (default: the default location); logged as a movement.
#[utoipa::path(
    put, path = "/v1/admin/variants/{id}/inventory", tag = "admin", operation_id = "admin_set_inventory",
    params(("id" = VariantId, Path)),
    request_body = SetLevel,
    security(("admin" = ["inventory:write"])),
    responses(
        (status = 200, description = "The variant's stock", body = VariantInventory),
        (status = 404, description = "No such variant", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Below what is reserved there (`below_reserved`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Negative quantity or unknown location", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn set_inventory(
    _: Authorized<InventoryWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
    ApiJson(input): ApiJson<SetLevel>,
) -> Result<Json<VariantInventory>, ApiError> {
    Ok(Json(state.services.inventory.set_level(id, input).await?))
}

/// Change how a variant's stock is kept: tracked or not, backorders, low-stock threshold.
#[utoipa::path(
    patch, path = "/v1/admin/variants/{id}/inventory", tag = "admin", operation_id = "admin_update_inventory_item",
    params(("id" = VariantId, Path)),
    request_body = ItemSettings,
    security(("admin" = ["inventory:write"])),
    responses(
        (status = 200, description = "The variant's stock", body = VariantInventory),
        (status = 404, description = "No such variant", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid threshold", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_inventory_item(
    _: Authorized<InventoryWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
    ApiJson(settings): ApiJson<ItemSettings>,
) -> Result<Json<VariantInventory>, ApiError> {
    Ok(Json(state.services.inventory.update_item(id, settings).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    /// The threshold of variants that have none of their own (default 5).
    pub threshold: Option<i64>,
    /// 1 to 100 (default 20).
    pub limit: Option<u64>,
}

/// Variants running low: counted stock summed over every location at or below the variant's
/// low-stock threshold (or `threshold`), the lowest first.
#[utoipa::path(
    get, path = "/v1/admin/inventory/low-stock", tag = "admin", operation_id = "admin_low_stock",
    params(LowStockQuery),
    security(("admin" = ["inventory:read"])),
    responses(
        (status = 200, description = "Variants running low, the lowest first", body = ListOf<LowStock>),
        (status = 422, description = "Invalid threshold or limit", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn low_stock(
    _: Authorized<InventoryRead>,
    State(state): State<AppState>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<LowStockQuery>,
) -> Result<Json<ListOf<LowStock>>, ApiError> {
    let threshold = query.threshold.unwrap_or(5);
    let limit = query.limit.unwrap_or(20);
    if threshold < 0 {
        return Err(keel_services::ServiceError::invalid("threshold", "must be 0 or more").into());
    }
    if !(1..=100).contains(&limit) {
        return Err(keel_services::ServiceError::invalid("limit", "must be 1 to 100").into());
    }
    Ok(Json(ListOf { data: state.services.inventory.low_stock(threshold, limit).await? }))
}

/// The latest 100 stock movements of a variant (sets, reservations, releases), newest first.
#[utoipa::path(
    get, path = "/v1/admin/variants/{id}/inventory/movements", tag = "admin", operation_id = "admin_list_movements",
    params(("id" = VariantId, Path)),
    security(("admin" = ["inventory:read"])),
    responses(
        (status = 200, description = "Movements, newest first", body = ListOf<Movement>),
        (status = 404, description = "No such variant", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_movements(
    _: Authorized<InventoryRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
) -> Result<Json<ListOf<Movement>>, ApiError> {
    Ok(Json(ListOf { data: state.services.inventory.movements(id, 100).await? }))
}

/// Regions (markets).
#[utoipa::path(
    get, path = "/v1/admin/regions", tag = "admin", operation_id = "admin_list_regions",
    security(("admin" = ["settings:read"])),
    responses((status = 200, description = "Every region", body = ListOf<Region>))
)]
pub async fn list_regions(
    _: Authorized<SettingsRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Region>>, ApiError> {
    Ok(Json(ListOf { data: state.services.regions.list().await? }))
}

/// Create a region: a currency, its countries (each in one region only), tax-inclusive or not,
/// and the stock locations that serve it.
#[utoipa::path(
    post, path = "/v1/admin/regions", tag = "admin", operation_id = "admin_create_region",
    request_body = RegionInput,
    security(("admin" = ["settings:write"])),
    responses(
        (status = 201, description = "Created", body = Region),
        (status = 409, description = "A country is in another region (`country_taken`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_region(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RegionInput>,
) -> Result<(StatusCode, Json<Region>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.regions.create(input).await?)))
}

/// One region.
#[utoipa::path(
    get, path = "/v1/admin/regions/{id}", tag = "admin", operation_id = "admin_get_region",
    params(("id" = RegionId, Path)),
    security(("admin" = ["settings:read"])),
    responses(
        (status = 200, description = "The region", body = Region),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_region(
    _: Authorized<SettingsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
) -> Result<Json<Region>, ApiError> {
    Ok(Json(state.services.regions.get(id).await?))
}

/// Change a region (absent fields stay).
#[utoipa::path(
    patch, path = "/v1/admin/regions/{id}", tag = "admin", operation_id = "admin_update_region",
    params(("id" = RegionId, Path)),
    request_body = RegionPatch,
    security(("admin" = ["settings:write"])),
    responses(
        (status = 200, description = "The region", body = Region),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A country is in another region", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_region(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
    ApiJson(patch): ApiJson<RegionPatch>,
) -> Result<Json<Region>, ApiError> {
    Ok(Json(state.services.regions.update(id, patch).await?))
}

/// Delete a region.
#[utoipa::path(
    delete, path = "/v1/admin/regions/{id}", tag = "admin", operation_id = "admin_delete_region",
    params(("id" = RegionId, Path)),
    security(("admin" = ["settings:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_region(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
) -> Result<StatusCode, ApiError> {
    state.services.regions.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A region's shipping options.
#[utoipa::path(
    get, path = "/v1/admin/regions/{id}/shipping-options", tag = "admin", operation_id = "admin_list_shipping_options",
    params(("id" = RegionId, Path)),
    security(("admin" = ["settings:read"])),
    responses(
        (status = 200, description = "The region's options", body = ListOf<ShippingOption>),
        (status = 404, description = "No such region", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_shipping_options(
    _: Authorized<SettingsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
) -> Result<Json<ListOf<ShippingOption>>, ApiError> {
    Ok(Json(ListOf { data: state.services.regions.shipping_options(id).await? }))
}

/// Add a shipping option to a region: a flat rate or weight tiers, optionally free over an items
/// subtotal.
#[utoipa::path(
    post, path = "/v1/admin/regions/{id}/shipping-options", tag = "admin", operation_id = "admin_create_shipping_option",
    params(("id" = RegionId, Path)),
    request_body = ShippingOptionInput,
    security(("admin" = ["settings:write"])),
    responses(
        (status = 201, description = "Created", body = ShippingOption),
        (status = 404, description = "No such region", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_shipping_option(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
    ApiJson(input): ApiJson<ShippingOptionInput>,
) -> Result<(StatusCode, Json<ShippingOption>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.regions.add_shipping_option(id, input).await?)))
}

/// Remove a shipping option (carts that chose it have no shipping method again).
#[utoipa::path(
    delete, path = "/v1/admin/shipping-options/{id}", tag = "admin", operation_id = "admin_delete_shipping_option",
    params(("id" = ShippingOptionId, Path)),
    security(("admin" = ["settings:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_shipping_option(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShippingOptionId>,
) -> Result<StatusCode, ApiError> {
    state.services.regions.delete_shipping_option(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A region's tax rates per country, province and product tax class (the most specific applies;
/// the region's `tax_rate` is the fallback).
#[utoipa::path(
    get, path = "/v1/admin/regions/{id}/tax-rates", tag = "admin", operation_id = "admin_list_tax_rates",
    params(("id" = RegionId, Path)),
    security(("admin" = ["settings:read"])),
    responses(
        (status = 200, description = "The region's rates", body = ListOf<TaxRateRule>),
        (status = 404, description = "No such region", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_tax_rates(
    _: Authorized<SettingsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
) -> Result<Json<ListOf<TaxRateRule>>, ApiError> {
    Ok(Json(ListOf { data: state.services.regions.tax_rates(id).await? }))
}

/// Add a tax rate for a country (optionally a province, optionally a product tax class).
#[utoipa::path(
    post, path = "/v1/admin/regions/{id}/tax-rates", tag = "admin", operation_id = "admin_create_tax_rate",
    params(("id" = RegionId, Path)),
    request_body = TaxRateInput,
    security(("admin" = ["settings:write"])),
    responses(
        (status = 201, description = "Created", body = TaxRateRule),
        (status = 404, description = "No such region", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_tax_rate(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RegionId>,
    ApiJson(input): ApiJson<TaxRateInput>,
) -> Result<(StatusCode, Json<TaxRateRule>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.regions.add_tax_rate(id, input).await?)))
}

/// Remove a tax rate.
#[utoipa::path(
    delete, path = "/v1/admin/tax-rates/{id}", tag = "admin", operation_id = "admin_delete_tax_rate",
    params(("id" = TaxRateId, Path)),
    security(("admin" = ["settings:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_tax_rate(
    _: Authorized<SettingsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<TaxRateId>,
) -> Result<StatusCode, ApiError> {
    state.services.regions.delete_tax_rate(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxClass {
    /// e.g. `books`; `null` clears it (the product is taxed at the general rate).
    pub tax_class: Option<String>,
}

/// Set a product's tax class, which picks class-specific tax rates.
#[utoipa::path(
    put, path = "/v1/admin/products/{id}/tax-class", tag = "admin", operation_id = "admin_set_tax_class",
    params(("id" = ProductId, Path)),
    request_body = TaxClass,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The product's class", body = TaxClass),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid class name", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn set_tax_class(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(input): ApiJson<TaxClass>,
) -> Result<Json<TaxClass>, ApiError> {
    let class = state.services.regions.set_product_tax_class(id, input.tax_class.as_deref()).await?;
    Ok(Json(TaxClass { tax_class: class }))
}
