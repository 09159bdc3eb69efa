//! The admin schema: catalog, inventory, orders, customers and promotions, each field needing
//! the permission its REST twin needs. Every successful mutation is written to the audit log,
//! like a change through the admin REST API.

use super::catalog::{self, ProductArgs, ProductFilter, ProductNode, ProductSort, Scope};
use super::error::OrGql;
use super::{GqlResult, caller, connection_of, id_connection, id_page};
use async_graphql::connection::Connection;
use async_graphql::{Context, Guard, Object, SimpleObject};
use keel_domain::catalog::view::{Category, Collection};
use keel_domain::permission::Permission;
use keel_domain::{CustomerId, OrderId, ProductId, PromotionId, VariantId};
use keel_services::ServiceError;
use keel_services::catalog::Audience;
use keel_services::catalog::input::{PriceInput, ProductCreate, ProductUpdate};
use keel_services::checkout::Order;
use keel_services::identity::audit::Change;
use keel_services::identity::customers::{Address, Customer};
use keel_services::inventory::{SetLevel, StockLocation, VariantInventory};
use keel_services::orders::{CaptureInput, FulfillmentInput, OrderDetail, RefundInput};
use keel_services::promotions::{Promotion, PromotionInput};
use keel_services::regions::Region;
use serde::Serialize;

/// Allows a field only to a staff member or API key holding the permission (no credentials:
/// `unauthenticated`; without the permission: `forbidden`, as in REST).
struct Needs(Permission);

impl Guard for Needs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match &caller(ctx).staff {
            None => Err(ServiceError::Unauthenticated).gql(),
            Some(principal) if !principal.grant.allows(self.0) => {
                Err(ServiceError::Forbidden(format!("this needs the `{}` permission", self.0))).gql()
            }
            Some(_) => Ok(()),
        }
    }
}

fn admin_scope() -> Scope {
    Scope { audience: Audience::Admin, region: None }
}

/// Records a change made through the admin schema in the audit log (a failure to record is
/// logged, and never undoes the change).
async fn audited<T: Serialize>(ctx: &Context<'_>, mutation: &str, result: T) -> T {
    let c = caller(ctx);
    if let Some(principal) = &c.staff {
        let change = Change {
            method: "POST".to_string(),
            route: format!("/v1/admin/graphql#{mutation}"),
            path: "/v1/admin/graphql".to_string(),
            status: 200,
            before: None,
            // Kept up to 64 KiB, as for REST changes.
            after: serde_json::to_vec(&result).ok().and_then(|bytes| crate::audit::json_of(&bytes)),
            request_id: c.request_id.clone(),
        };
        if let Err(err) = c.services.audit.record(principal, change).await {
            tracing::error!(%err, "could not write the audit log");
        }
    }
    result
}

/// A customer with their addresses.
#[derive(SimpleObject)]
struct CustomerDetail {
    #[graphql(flatten)]
    customer: Customer,
    addresses: Vec<Address>,
}

pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// Products of every status, newest first unless `sort` says otherwise.
    #[graphql(
        guard = "Needs(Permission::ProductsRead)",
        complexity = "first.unwrap_or(20).max(1) as usize * child_complexity"
    )]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ProductFilter>,
        sort: Option<ProductSort>,
        currency: Option<keel_domain::Currency>,
    ) -> GqlResult<Connection<String, ProductNode>> {
        let args = ProductArgs { first, after, filter, sort, currency, region_id: None };
        catalog::product_connection(ctx, Audience::Admin, args).await
    }

    #[graphql(guard = "Needs(Permission::ProductsRead)")]
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ProductId>,
        handle: Option<String>,
    ) -> GqlResult<ProductNode> {
        catalog::one_product(ctx, Audience::Admin, id, handle, None).await
    }

    #[graphql(
        guard = "Needs(Permission::ProductsRead)",
        complexity = "first.unwrap_or(20).max(1) as usize * child_complexity"
    )]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Category>> {
        catalog::categories(ctx, first, after).await
    }

    #[graphql(
        guard = "Needs(Permission::ProductsRead)",
        complexity = "first.unwrap_or(20).max(1) as usize * child_complexity"
    )]
    async fn collections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Collection>> {
        catalog::collections(ctx, first, after).await
    }

    /// A variant's stock at each location.
    #[graphql(guard = "Needs(Permission::InventoryRead)")]
    async fn variant_inventory(&self, ctx: &Context<'_>, variant_id: VariantId) -> GqlResult<VariantInventory> {
        caller(ctx).services.inventory.inventory(variant_id).await.gql()
    }

    #[graphql(guard = "Needs(Permission::InventoryRead)")]
    async fn stock_locations(&self, ctx: &Context<'_>) -> GqlResult<Vec<StockLocation>> {
        caller(ctx).services.inventory.locations().await.gql()
    }

    #[graphql(guard = "Needs(Permission::SettingsRead)")]
    async fn regions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Region>> {
        caller(ctx).services.regions.list().await.gql()
    }

    /// Orders, newest first, by status and email (substring).
    #[graphql(
        guard = "Needs(Permission::OrdersRead)",
        complexity = "first.unwrap_or(20).max(1) as usize * child_complexity"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<String>,
        email: Option<String>,
    ) -> GqlResult<Connection<String, Order>> {
        let (limit, before) = id_page(first, 20, after.as_deref(), OrderId::parse)?;
        let orders = caller(ctx)
            .services
            .orders
            .search(status.as_deref(), email.as_deref(), Default::default(), before, limit + 1)
            .await
            .gql()?;
        Ok(id_connection(orders, limit, before.is_some(), |o| o.id.to_string()))
    }

    /// An order with its payments, fulfilments, returns, refunds and timeline.
    #[graphql(guard = "Needs(Permission::OrdersRead)")]
    async fn order(&self, ctx: &Context<'_>, id: OrderId) -> GqlResult<OrderDetail> {
        caller(ctx).services.orders.detail(id).await.gql()
    }

    /// Customers, newest first, by email (substring).
    #[graphql(
        guard = "Needs(Permission::CustomersRead)",
        complexity = "first.unwrap_or(20).max(1) as usize * child_complexity"
    )]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        email: Option<String>,
    ) -> GqlResult<Connection<String, Customer>> {
        let (limit, before) = id_page(first, 20, after.as_deref(), CustomerId::parse)?;
        let customers = caller(ctx).services.customers.list(email.as_deref(), before, limit + 1).await.gql()?;
        Ok(id_connection(customers, limit, before.is_some(), |c| c.id.to_string()))
    }

    #[graphql(guard = "Needs(Permission::CustomersRead)")]
    async fn customer(&self, ctx: &Context<'_>, id: CustomerId) -> GqlResult<CustomerDetail> {
        let (customer, addresses) = caller(ctx).services.customers.get(id).await.gql()?;
        Ok(CustomerDetail { customer, addresses })
    }

    /// Promotions, newest first.
    #[graphql(
        guard = "Needs(Permission::PromotionsRead)",
        complexity = "first.unwrap_or(50).max(1) as usize * child_complexity"
    )]
    async fn promotions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Promotion>> {
        let (limit, before) = id_page(first, 50, after.as_deref(), PromotionId::parse)?;
        let (promotions, more) = caller(ctx).services.promotions.list(before, limit).await.gql()?;
        Ok(connection_of(promotions, before.is_some(), more, |p| p.id.to_string()))
    }

    #[graphql(guard = "Needs(Permission::PromotionsRead)")]
    async fn promotion(&self, ctx: &Context<'_>, id: PromotionId) -> GqlResult<Promotion> {
        caller(ctx).services.promotions.get(id).await.gql()
    }
}

pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Create a product with its options, variants, prices, images and memberships, all or
    /// nothing.
    #[graphql(guard = "Needs(Permission::ProductsWrite)")]
    async fn create_product(&self, ctx: &Context<'_>, input: ProductCreate) -> GqlResult<ProductNode> {
        let product = caller(ctx).services.catalog.create_product(&input).await.gql()?;
        let product = audited(ctx, "createProduct", product).await;
        Ok(ProductNode::whole(product, admin_scope()))
    }

    /// Change a product's fields (those given).
    #[graphql(guard = "Needs(Permission::ProductsWrite)")]
    async fn update_product(&self, ctx: &Context<'_>, id: ProductId, input: ProductUpdate) -> GqlResult<ProductNode> {
        let product = caller(ctx).services.catalog.update_product(id, &input).await.gql()?;
        let product = audited(ctx, "updateProduct", product).await;
        Ok(ProductNode::whole(product, admin_scope()))
    }

    /// Archive a product (hidden from the store; orders keep their lines).
    #[graphql(guard = "Needs(Permission::ProductsWrite)")]
    async fn archive_product(&self, ctx: &Context<'_>, id: ProductId) -> GqlResult<ProductNode> {
        let product = caller(ctx).services.catalog.archive_product(id).await.gql()?;
        let product = audited(ctx, "archiveProduct", product).await;
        Ok(ProductNode::whole(product, admin_scope()))
    }

    /// Replace a variant's prices (one per currency); returns the product as it now is.
    #[graphql(guard = "Needs(Permission::ProductsWrite)")]
    async fn set_variant_prices(
        &self,
        ctx: &Context<'_>,
        variant_id: VariantId,
        prices: Vec<PriceInput>,
    ) -> GqlResult<ProductNode> {
        let services = &caller(ctx).services;
        let variant = services.catalog.set_variant_prices(variant_id, &prices).await.gql()?;
        let variant = audited(ctx, "setVariantPrices", variant).await;
        let product = services.catalog.get_product(Audience::Admin, &variant.product_id.to_string()).await.gql()?;
        Ok(ProductNode::whole(product, admin_scope()))
    }

    /// Set a variant's on-hand count at a location (the default one when not given).
    #[graphql(guard = "Needs(Permission::InventoryWrite)")]
    async fn set_stock_level(
        &self,
        ctx: &Context<'_>,
        variant_id: VariantId,
        input: SetLevel,
    ) -> GqlResult<VariantInventory> {
        let inventory = caller(ctx).services.inventory.set_level(variant_id, input).await.gql()?;
        Ok(audited(ctx, "setStockLevel", inventory).await)
    }

    /// Capture an authorised payment, in full or in part.
    #[graphql(guard = "Needs(Permission::OrdersWrite)")]
    async fn capture_order(&self, ctx: &Context<'_>, id: OrderId, amount: Option<i64>) -> GqlResult<OrderDetail> {
        let order = caller(ctx).services.orders.capture(id, CaptureInput { amount }).await.gql()?;
        Ok(audited(ctx, "captureOrder", order).await)
    }

    /// Cancel an order before it ships: the payment is voided or refunded and the stock restored.
    #[graphql(guard = "Needs(Permission::OrdersWrite)")]
    async fn cancel_order(&self, ctx: &Context<'_>, id: OrderId) -> GqlResult<OrderDetail> {
        let order = caller(ctx).services.orders.cancel(id).await.gql()?;
        Ok(audited(ctx, "cancelOrder", order).await)
    }

    /// Ship some or all of an order's lines.
    #[graphql(guard = "Needs(Permission::OrdersWrite)")]
    async fn fulfill_order(&self, ctx: &Context<'_>, id: OrderId, input: FulfillmentInput) -> GqlResult<OrderDetail> {
        let order = caller(ctx).services.orders.fulfill(id, input).await.gql()?;
        Ok(audited(ctx, "fulfillOrder", order).await)
    }

    /// Refund line units and/or the shipping.
    #[graphql(guard = "Needs(Permission::OrdersWrite)")]
    async fn refund_order(&self, ctx: &Context<'_>, id: OrderId, input: RefundInput) -> GqlResult<OrderDetail> {
        let order = caller(ctx).services.orders.refund(id, input).await.gql()?;
        Ok(audited(ctx, "refundOrder", order).await)
    }

    #[graphql(guard = "Needs(Permission::PromotionsWrite)")]
    async fn create_promotion(&self, ctx: &Context<'_>, input: PromotionInput) -> GqlResult<Promotion> {
        let promotion = caller(ctx).services.promotions.create(input).await.gql()?;
        Ok(audited(ctx, "createPromotion", promotion).await)
    }
}
