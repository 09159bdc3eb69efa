//! Store checkout and order routes: a cart becomes an order (`POST …/checkout` with an
//! `Idempotency-Key`), and shoppers read their orders.

use crate::AppState;
use crate::auth::{MaybeSignedIn, SignedIn};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keel_domain::{CartId, OrderId};
use keel_services::checkout::{CheckoutInput, Order};
use serde::{Deserialize, Serialize};

const PROBLEM: &str = "application/problem+json";

/// Check the cart out: reserve its stock, authorise the payment, place the order. Send an
/// `Idempotency-Key`: a retry with the same key answers the same order and never charges twice.
#[utoipa::path(
    post, path = "/v1/store/carts/{id}/checkout", tag = "store", operation_id = "store_checkout",
    params(
        ("id" = CartId, Path),
        ("Idempotency-Key" = String, Header, description = "Unique per checkout attempt; a retry reuses it"),
    ),
    request_body = CheckoutInput,
    security((), ("customer" = [])),
    responses(
        (status = 201, description = "The order (again, with `Idempotent-Replayed: true`, for a replay)", body = Order),
        (status = 402, description = "The payment was declined (`payment_declined`); the stock is released and the cart still usable", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = PROBLEM),
        (status = 409, description = "`insufficient_stock`, `cart_changed`, `cart_completed`, `promotion_exhausted`, `checkout_in_progress`", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The cart is not ready (email, address, shipping method), an unknown provider, no key, or a key reused with another body (`idempotency_key_reused`)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The payment provider could not be reached; nothing was charged", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<CartId>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CheckoutInput>,
) -> Result<Response, ApiError> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (order, replayed) = state.services.checkout.checkout(id, who, key, input).await?;
    let mut response = (StatusCode::CREATED, Json(order)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// For a guest order: the email it was placed with.
    pub email: Option<String>,
}

/// One order: the signed-in customer's, or a guest order by its id and email.
#[utoipa::path(
    get, path = "/v1/store/orders/{id}", tag = "store", operation_id = "store_get_order",
    params(("id" = OrderId, Path), OrderQuery),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order, or not the caller's", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<OrderId>,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(state.services.checkout.order(id, who, query.email.as_deref()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderPageQuery {
    /// 1 to 100 (default 20).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub data: Vec<Order>,
    pub next_cursor: Option<String>,
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(
    get, path = "/v1/store/orders", tag = "store", operation_id = "store_list_orders",
    params(OrderPageQuery),
    security(("customer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiQuery(query): ApiQuery<OrderPageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, before) = crate::rest::id_page(query.limit, 20, query.cursor.as_deref(), OrderId::parse)?;
    let data = state.services.checkout.orders_of(who, before, limit).await?;
    let next_cursor = if data.len() as u64 == limit { data.last().map(|o| o.id.to_string()) } else { None };
    Ok(Json(OrderPage { data, next_cursor }))
}

/// The order's invoice as a PDF (moments after the order is placed; 404 until then).
#[utoipa::path(
    get, path = "/v1/store/orders/{id}/invoice", tag = "store", operation_id = "store_get_invoice",
    params(("id" = OrderId, Path), OrderQuery),
    security((), ("customer" = [])),
    responses(
        (status = 200, description = "The invoice", body = String, content_type = "application/pdf"),
        (status = 404, description = "No such order, not the caller's, or the invoice is not ready yet", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_invoice(
    State(state): State<AppState>,
    MaybeSignedIn(who): MaybeSignedIn,
    ApiPath(id): ApiPath<OrderId>,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> Result<Response, ApiError> {
    let pdf = state.services.checkout.invoice(id, who, query.email.as_deref()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

/// A payment provider's webhook (signed by the provider; `paysim` signs with
/// `Paysim-Signature`). A capture or void done at the provider is mirrored on the order; a
/// redelivered event is acknowledged and changes nothing.
#[utoipa::path(
    post, path = "/v1/payments/{provider}/webhook", tag = "store", operation_id = "payment_webhook",
    params(("provider" = String, Path, description = "The provider's name, e.g. `paysim`")),
    request_body(content = Object, description = "The provider's event, as it sends it"),
    responses(
        (status = 204, description = "Handled (or already handled)"),
        (status = 404, description = "No such provider", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Bad or missing signature, stale timestamp (`webhook_refused`)", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn payment_webhook(
    State(state): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let headers: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
    state.services.orders.provider_webhook(&provider, &headers, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
