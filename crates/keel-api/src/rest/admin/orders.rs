//! Admin order routes: search, detail with payments and timeline, capture, cancel.

use crate::AppState;
use crate::auth::{Authorized, OrdersRead, OrdersWrite};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use keel_domain::{FulfillmentId, OrderId, ReturnId};
use keel_services::checkout::Order;
use keel_services::orders::{
    CaptureInput, FulfillmentInput, OrderDetail, OrderEdit, OrderSummary, Placed, ReceiveInput, RefundInput,
    ReturnInput,
};
use serde::{Deserialize, Serialize};

const PROBLEM: &str = "application/problem+json";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderSearch {
    /// `placed` or `canceled`.
    pub status: Option<String>,
    /// Orders whose email contains this text.
    pub email: Option<String>,
    /// Placed at or after this time (RFC 3339).
    pub placed_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Placed before this time (RFC 3339).
    pub placed_to: Option<chrono::DateTime<chrono::Utc>>,
    /// 1 to 100 (default 20).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminOrderPage {
    pub data: Vec<Order>,
    pub next_cursor: Option<String>,
}

/// Orders, newest first.
#[utoipa::path(
    get, path = "/v1/admin/orders", tag = "admin", operation_id = "admin_list_orders",
    params(OrderSearch),
    security(("admin" = ["orders:read"])),
    responses(
        (status = 200, description = "A page of orders", body = AdminOrderPage),
        (status = 400, description = "Invalid cursor, limit or time", body = Problem, content_type = PROBLEM),
        (status = 422, description = "`placed_from` after `placed_to`", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_orders(
    _: Authorized<OrdersRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OrderSearch>,
) -> Result<Json<AdminOrderPage>, ApiError> {
    let (limit, before) = crate::rest::id_page(query.limit, 20, query.cursor.as_deref(), OrderId::parse)?;
    let placed = Placed { from: query.placed_from, to: query.placed_to };
    let data =
        state.services.orders.search(query.status.as_deref(), query.email.as_deref(), placed, before, limit).await?;
    let next_cursor = if data.len() as u64 == limit { data.last().map(|o| o.id.to_string()) } else { None };
    Ok(Json(AdminOrderPage { data, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// From this time (RFC 3339; default: any).
    pub placed_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Up to this time, excluded (RFC 3339; default: now).
    pub placed_to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Orders placed in a period and what they brought in, one entry per currency (canceled orders
/// left out). The admin panel's dashboard asks for today's.
#[utoipa::path(
    get, path = "/v1/admin/orders/summary", tag = "admin", operation_id = "admin_order_summary",
    params(Period),
    security(("admin" = ["orders:read"])),
    responses(
        (status = 200, description = "Per currency: orders, revenue, refunded", body = ListOf<OrderSummary>),
        (status = 400, description = "Invalid time", body = Problem, content_type = PROBLEM),
        (status = 422, description = "`placed_from` after `placed_to`", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn order_summary(
    _: Authorized<OrdersRead>,
    State(state): State<AppState>,
    ApiQuery(period): ApiQuery<Period>,
) -> Result<Json<ListOf<OrderSummary>>, ApiError> {
    let placed = Placed { from: period.placed_from, to: period.placed_to };
    Ok(Json(ListOf { data: state.services.orders.summary(placed).await? }))
}

/// One order with its payments and timeline.
#[utoipa::path(
    get, path = "/v1/admin/orders/{id}", tag = "admin", operation_id = "admin_get_order",
    params(("id" = OrderId, Path)),
    security(("admin" = ["orders:read"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_order(
    _: Authorized<OrdersRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.detail(id).await?))
}

/// Capture the order's authorised payment (all, or `amount`).
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/capture", tag = "admin", operation_id = "admin_capture_order",
    params(("id" = OrderId, Path)),
    request_body = CaptureInput,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Nothing to capture (`not_capturable`, `no_payment`) or the provider refused (`payment_refused`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An amount above what is authorised", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The payment provider could not be reached", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn capture_order(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(input): ApiJson<CaptureInput>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.capture(id, input).await?))
}

/// Cancel an order that has not shipped: the payment voided (refunded if captured), the stock
/// put back.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/cancel", tag = "admin", operation_id = "admin_cancel_order",
    params(("id" = OrderId, Path)),
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not cancelable (`not_cancelable`), or the provider refused", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The payment provider could not be reached", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn cancel_order(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.cancel(id).await?))
}

/// Ship units of the order (partial shipments allowed), optionally with tracking; the shopper is
/// emailed the tracking details unless `notify` is false.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/fulfillments", tag = "admin", operation_id = "admin_fulfill_order",
    params(("id" = OrderId, Path)),
    request_body = FulfillmentInput,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "More than is left to ship (`over_fulfilled`), or a canceled order (`not_fulfillable`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "No lines, or a zero quantity", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn fulfill_order(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(input): ApiJson<FulfillmentInput>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.fulfill(id, input).await?))
}

/// Mark a shipment delivered.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/fulfillments/{fulfillment_id}/deliver", tag = "admin",
    operation_id = "admin_deliver_fulfillment",
    params(("id" = OrderId, Path), ("fulfillment_id" = FulfillmentId, Path)),
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such shipped fulfillment on this order", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn deliver_fulfillment(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath((id, fulfillment)): ApiPath<(OrderId, FulfillmentId)>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.deliver(id, fulfillment).await?))
}

/// Refund units of lines (at their share of what they cost after discounts) and/or the shipping.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/refunds", tag = "admin", operation_id = "admin_refund_order",
    params(("id" = OrderId, Path)),
    request_body = RefundInput,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not captured or canceled (`not_refundable`), more than is left (`over_refunded`), or the provider refused", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Nothing named, a zero quantity, or a line not on the order", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The payment provider could not be reached; nothing was refunded", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn refund_order(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(input): ApiJson<RefundInput>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.refund(id, input).await?))
}

/// Record units of shipped lines coming back.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/returns", tag = "admin", operation_id = "admin_request_return",
    params(("id" = OrderId, Path)),
    request_body = ReturnInput,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "More than was shipped (`over_returned`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "No lines, or a zero quantity", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn request_return(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(input): ApiJson<ReturnInput>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.request_return(id, input).await?))
}

/// Receive a return: restock the units (unless `restock: false`) and refund them (unless
/// `refund: false`).
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/returns/{return_id}/receive", tag = "admin",
    operation_id = "admin_receive_return",
    params(("id" = OrderId, Path), ("return_id" = ReturnId, Path)),
    request_body = ReceiveInput,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such requested return on this order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The refund is not possible (`not_refundable`, `over_refunded`)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The payment provider could not be reached for the refund", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn receive_return(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath((id, return_id)): ApiPath<(OrderId, ReturnId)>,
    ApiJson(input): ApiJson<ReceiveInput>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.receive_return(id, return_id, input).await?))
}

/// Edit an order before it ships: lower line quantities (0 removes a line). The removed units go
/// back on hand; the totals follow; the authorised payment will capture the new total.
#[utoipa::path(
    post, path = "/v1/admin/orders/{id}/edits", tag = "admin", operation_id = "admin_edit_order",
    params(("id" = OrderId, Path)),
    request_body = OrderEdit,
    security(("admin" = ["orders:write"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Shipped, refunded, captured or canceled (`not_editable`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A line not on the order, or a quantity not lower", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn edit_order(
    _: Authorized<OrdersWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(input): ApiJson<OrderEdit>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(state.services.orders.edit(id, input).await?))
}
