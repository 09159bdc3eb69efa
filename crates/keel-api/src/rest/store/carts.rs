//! Store cart routes. Anonymous shoppers reach a cart by its unguessable id; a cart made while
//! signed in needs its owner's token. Every answer is the whole cart with its amounts.

use crate::AppState;
use crate::auth::{MaybeSignedIn, SignedIn};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::{CartId, CartLineId};
use keel_services::carts::{Cart, CartCreate, CartPatch, CartShippingOption, LineAdd, LineUpdate, ShippingChoice};
use keel_services::promotions::CodeInput;

const PROBLEM: &str = "application/problem+json";

/// Create a cart in a region (or the region selling in `currency`). Signed in, the cart is the
/// customer's and needs their token from then on.
#[utoipa::path(
    post, path = "/v1/store/carts", tag = "store", operation_id = "store_create_cart",
    request_body = CartCreate,
    security((), ("customer" = [])),
    responses(
        (status = 201, description = "The new cart", body = Cart),
        (status = 422, description = "No such region or currency", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_cart(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiJson(input): ApiJson<CartCreate>,
) -> Result<(StatusCode, Json<Cart>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.carts.create(input, who).await?)))
}

/// A cart with its lines and amounts.
#[utoipa::path(
    get, path = "/v1/store/carts/{id}", tag = "store", operation_id = "store_get_cart",
    params(("id" = CartId, Path)),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The cart", body = Cart),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_cart(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.get(id, who).await?))
}

/// Set the email, addresses or region.
#[utoipa::path(
    patch, path = "/v1/store/carts/{id}", tag = "store", operation_id = "store_update_cart",
    params(("id" = CartId, Path)),
    request_body = CartPatch,
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The cart", body = Cart),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid email, address or region", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_cart(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
    ApiJson(patch): ApiJson<CartPatch>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.update(id, who, patch).await?))
}

/// Add a variant (adding one already in the cart raises its line's quantity).
#[utoipa::path(
    post, path = "/v1/store/carts/{id}/line-items", tag = "store", operation_id = "store_add_line",
    params(("id" = CartId, Path)),
    request_body = LineAdd,
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
        (status = 409, description = "More than the region can sell (`insufficient_stock`), or no price in the cart's currency (`no_price`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Unknown variant or a quantity outside 1 to 1000", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn add_line(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
    ApiJson(input): ApiJson<LineAdd>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.add_line(id, who, input).await?))
}

/// Change a line's quantity.
#[utoipa::path(
    patch, path = "/v1/store/carts/{id}/line-items/{line_id}", tag = "store", operation_id = "store_update_line",
    params(("id" = CartId, Path), ("line_id" = CartLineId, Path)),
    request_body = LineUpdate,
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart or line", body = Problem, content_type = PROBLEM),
        (status = 409, description = "More than the region can sell", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A quantity outside 1 to 1000", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_line(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath((id, line)): ApiPath<(CartId, CartLineId)>,
    ApiJson(input): ApiJson<LineUpdate>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.update_line(id, who, line, input).await?))
}

/// Remove a line.
#[utoipa::path(
    delete, path = "/v1/store/carts/{id}/line-items/{line_id}", tag = "store", operation_id = "store_delete_line",
    params(("id" = CartId, Path), ("line_id" = CartLineId, Path)),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart or line", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_line(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath((id, line)): ApiPath<(CartId, CartLineId)>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.delete_line(id, who, line).await?))
}

/// Take an anonymous cart after signing in: its lines merge into the customer's active cart in
/// the same region (answered), or it becomes theirs.
#[utoipa::path(
    post, path = "/v1/store/carts/{id}/claim", tag = "store", operation_id = "store_claim_cart",
    params(("id" = CartId, Path)),
    security(("customer" = [])),
    responses(
        (status = 200, description = "The customer's cart, with the anonymous cart's lines", body = Cart),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn claim_cart(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiPath(id): ApiPath<CartId>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.claim(id, who).await?))
}

/// The region's shipping options that apply to this cart, each priced for it.
#[utoipa::path(
    get, path = "/v1/store/carts/{id}/shipping-options", tag = "store", operation_id = "store_cart_shipping_options",
    params(("id" = CartId, Path)),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "Options with their price for this cart", body = ListOf<CartShippingOption>),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn shipping_options(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
) -> Result<Json<ListOf<CartShippingOption>>, ApiError> {
    Ok(Json(ListOf { data: state.services.carts.shipping_options(id, who).await? }))
}

/// Choose a shipping option; the cart's `shipping_total` (taxed like its lines) follows.
#[utoipa::path(
    post, path = "/v1/store/carts/{id}/shipping-method", tag = "store", operation_id = "store_choose_shipping",
    params(("id" = CartId, Path)),
    request_body = ShippingChoice,
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not an option of the cart's region, or one that does not apply", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn choose_shipping(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
    ApiJson(choice): ApiJson<ShippingChoice>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.choose_shipping(id, who, choice).await?))
}

/// Apply a promotion code. The cart's `promotions` then list it, with whether it applies now.
#[utoipa::path(
    post, path = "/v1/store/carts/{id}/promotions", tag = "store", operation_id = "store_apply_promotion",
    params(("id" = CartId, Path)),
    request_body = CodeInput,
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The code is refused: `promotion_not_found`, `promotion_not_started`, `promotion_expired`, `promotion_exhausted`, `promotion_limit_reached` or `promotion_not_eligible`", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn apply_promotion(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.apply_code(id, who, input).await?))
}

/// Remove a promotion code from the cart.
#[utoipa::path(
    delete, path = "/v1/store/carts/{id}/promotions/{code}", tag = "store", operation_id = "store_remove_promotion",
    params(("id" = CartId, Path), ("code" = String, Path)),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 404, description = "No such cart, or it does not hold this code", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn remove_promotion(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath((id, code)): ApiPath<(CartId, String)>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(state.services.carts.remove_code(id, who, &code).await?))
}
