//! Admin catalog routes: products, variants, prices, categories, collections.

use crate::AppState;
use crate::auth::{Authorized, ProductsRead, ProductsWrite};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::catalog::view::{Category, Collection, Product, Variant};
use keel_domain::{CategoryId, CollectionId, ProductId, VariantId};
use keel_services::catalog::input::{
    CategoryInput, CollectionInput, PriceInput, ProductCreate, ProductUpdate, VariantInput, VariantUpdate,
};
use keel_services::catalog::{Audience, ProductList, ProductListParams};

type Created<T> = (StatusCode, Json<T>);

/// List products of every status.
#[utoipa::path(
    get, path = "/v1/admin/products", tag = "admin", operation_id = "admin_list_products",
    params(ProductListParams),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "A page of products", body = ProductList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the permission", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ProductListParams>,
) -> Result<Json<ProductList>, ApiError> {
    Ok(Json(state.services.catalog.list_products(Audience::Admin, &params).await?))
}

/// Create a product with its options, variants and prices.
#[utoipa::path(
    post, path = "/v1/admin/products", tag = "admin", operation_id = "admin_create_product",
    request_body = ProductCreate,
    security(("admin" = ["products:write"])),
    responses(
        (status = 201, description = "Created", body = Product),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle or SKU already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_product(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ProductCreate>,
) -> Result<Created<Product>, ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.catalog.create_product(&input).await?)))
}

/// Get a product (any status) by id or handle.
#[utoipa::path(
    get, path = "/v1/admin/products/{id}", tag = "admin", operation_id = "admin_get_product",
    params(("id" = String, Path, description = "Product id or handle")),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(state.services.catalog.get_product(Audience::Admin, &id).await?))
}

/// Update a product; lists given replace the stored ones.
#[utoipa::path(
    patch, path = "/v1/admin/products/{id}", tag = "admin", operation_id = "admin_update_product",
    params(("id" = ProductId, Path)),
    request_body = ProductUpdate,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The updated product", body = Product),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_product(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(patch): ApiJson<ProductUpdate>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(state.services.catalog.update_product(id, &patch).await?))
}

/// Archive a product: it leaves the store but keeps its data.
#[utoipa::path(
    post, path = "/v1/admin/products/{id}/archive", tag = "admin", operation_id = "admin_archive_product",
    params(("id" = ProductId, Path)),
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The archived product", body = Product),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn archive_product(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(state.services.catalog.archive_product(id).await?))
}

/// Add a variant to a product.
#[utoipa::path(
    post, path = "/v1/admin/products/{id}/variants", tag = "admin", operation_id = "admin_add_variant",
    params(("id" = ProductId, Path)),
    request_body = VariantInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 201, description = "Created", body = Variant),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_variant(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(input): ApiJson<VariantInput>,
) -> Result<Created<Variant>, ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.catalog.add_variant(id, &input).await?)))
}

/// Get a variant.
#[utoipa::path(
    get, path = "/v1/admin/variants/{id}", tag = "admin", operation_id = "admin_get_variant",
    params(("id" = VariantId, Path)),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "The variant", body = Variant),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_variant(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
) -> Result<Json<Variant>, ApiError> {
    Ok(Json(state.services.catalog.get_variant(id).await?))
}

/// Update a variant; `prices`, when given, replaces the whole price set.
#[utoipa::path(
    patch, path = "/v1/admin/variants/{id}", tag = "admin", operation_id = "admin_update_variant",
    params(("id" = VariantId, Path)),
    request_body = VariantUpdate,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The updated variant", body = Variant),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_variant(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
    ApiJson(patch): ApiJson<VariantUpdate>,
) -> Result<Json<Variant>, ApiError> {
    Ok(Json(state.services.catalog.update_variant(id, &patch).await?))
}

/// Delete a variant.
#[utoipa::path(
    delete, path = "/v1/admin/variants/{id}", tag = "admin", operation_id = "admin_delete_variant",
    params(("id" = VariantId, Path)),
    security(("admin" = ["products:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_variant(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
) -> Result<StatusCode, ApiError> {
    state.services.catalog.delete_variant(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a variant's prices (one per currency).
#[utoipa::path(
    put, path = "/v1/admin/variants/{id}/prices", tag = "admin", operation_id = "admin_set_variant_prices",
    params(("id" = VariantId, Path)),
    request_body = Vec<PriceInput>,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The variant with its new prices", body = Variant),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid prices", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_variant_prices(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<VariantId>,
    ApiJson(prices): ApiJson<Vec<PriceInput>>,
) -> Result<Json<Variant>, ApiError> {
    Ok(Json(state.services.catalog.set_variant_prices(id, &prices).await?))
}

/// List categories.
#[utoipa::path(
    get, path = "/v1/admin/categories", tag = "admin", operation_id = "admin_list_categories",
    security(("admin" = ["products:read"])),
    responses((status = 200, description = "Every category", body = ListOf<Category>))
)]
pub async fn list_categories(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Category>>, ApiError> {
    Ok(Json(ListOf { data: state.services.catalog.list_categories().await? }))
}

/// Create a category.
#[utoipa::path(
    post, path = "/v1/admin/categories", tag = "admin", operation_id = "admin_create_category",
    request_body = CategoryInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 201, description = "Created", body = Category),
        (status = 409, description = "Handle taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_category(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Created<Category>, ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.catalog.create_category(&input).await?)))
}

/// Get a category.
#[utoipa::path(
    get, path = "/v1/admin/categories/{id}", tag = "admin", operation_id = "admin_get_category",
    params(("id" = CategoryId, Path)),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "The category", body = Category),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_category(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CategoryId>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(state.services.catalog.get_category(id).await?))
}

/// Update a category (rename, move in the tree).
#[utoipa::path(
    patch, path = "/v1/admin/categories/{id}", tag = "admin", operation_id = "admin_update_category",
    params(("id" = CategoryId, Path)),
    request_body = CategoryInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The updated category", body = Category),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_category(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CategoryId>,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(state.services.catalog.update_category(id, &input).await?))
}

/// Delete a category without sub-categories.
#[utoipa::path(
    delete, path = "/v1/admin/categories/{id}", tag = "admin", operation_id = "admin_delete_category",
    params(("id" = CategoryId, Path)),
    security(("admin" = ["products:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Has sub-categories", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_category(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CategoryId>,
) -> Result<StatusCode, ApiError> {
    state.services.catalog.delete_category(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List collections.
#[utoipa::path(
    get, path = "/v1/admin/collections", tag = "admin", operation_id = "admin_list_collections",
    security(("admin" = ["products:read"])),
    responses((status = 200, description = "Every collection", body = ListOf<Collection>))
)]
pub async fn list_collections(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Collection>>, ApiError> {
    Ok(Json(ListOf { data: state.services.catalog.list_collections().await? }))
}

/// Create a collection.
#[utoipa::path(
    post, path = "/v1/admin/collections", tag = "admin", operation_id = "admin_create_collection",
    request_body = CollectionInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 201, description = "Created", body = Collection),
        (status = 409, description = "Handle taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_collection(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CollectionInput>,
) -> Result<Created<Collection>, ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.catalog.create_collection(&input).await?)))
}

/// Get a collection.
#[utoipa::path(
    get, path = "/v1/admin/collections/{id}", tag = "admin", operation_id = "admin_get_collection",
    params(("id" = CollectionId, Path)),
    security(("admin" = ["products:read"])),
    responses(
        (status = 200, description = "The collection", body = Collection),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_collection(
    _: Authorized<ProductsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CollectionId>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(state.services.catalog.get_collection(id).await?))
}

/// Update a collection.
#[utoipa::path(
    patch, path = "/v1/admin/collections/{id}", tag = "admin", operation_id = "admin_update_collection",
    params(("id" = CollectionId, Path)),
    request_body = CollectionInput,
    security(("admin" = ["products:write"])),
    responses(
        (status = 200, description = "The updated collection", body = Collection),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_collection(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CollectionId>,
    ApiJson(input): ApiJson<CollectionInput>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(state.services.catalog.update_collection(id, &input).await?))
}

/// Delete a collection (its products stay).
#[utoipa::path(
    delete, path = "/v1/admin/collections/{id}", tag = "admin", operation_id = "admin_delete_collection",
    params(("id" = CollectionId, Path)),
    security(("admin" = ["products:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_collection(
    _: Authorized<ProductsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CollectionId>,
) -> Result<StatusCode, ApiError> {
    state.services.catalog.delete_collection(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
