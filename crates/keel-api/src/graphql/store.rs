//! The store schema: catalog reads, the shopper's cart, account and orders, and checkout.

use super::catalog::{self, ProductArgs, ProductFilter, ProductNode, ProductSort};
use super::error::OrGql;
use super::{GqlResult, caller, id_connection, id_page};
use crate::ratelimit::Class;
use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject};
use keel_domain::catalog::view::{Category, Collection};
use keel_domain::{CartId, CartLineId, Currency, OrderId, ProductId, RegionId, ShippingOptionId, VariantId};
use keel_services::carts::{Cart, CartCreate, CartPatch, CartShippingOption, LineAdd, LineUpdate, ShippingChoice};
use keel_services::catalog::Audience;
use keel_services::checkout::{CheckoutInput, Order};
use keel_services::identity::customers::{Address, Customer, Register};
use keel_services::identity::{CustomerPrincipal, TokenPair};
use keel_services::promotions::CodeInput;
use keel_services::regions::Region;

pub struct StoreQuery;

fn signed_in(ctx: &Context<'_>) -> GqlResult<CustomerPrincipal> {
    caller(ctx).customer.ok_or(keel_services::ServiceError::Unauthenticated).gql()
}

#[Object]
impl StoreQuery {
    /// Published products, newest first unless `sort` says otherwise.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        filter: Option<ProductFilter>,
        sort: Option<ProductSort>,
        #[graphql(desc = "The currency `PRICE_*` sorts compare (default USD).")] currency: Option<Currency>,
        #[graphql(desc = "Variants' `inStock` counts this region's locations; `calculatedPrice` is in its currency.")]
        region_id: Option<RegionId>,
    ) -> GqlResult<Connection<String, ProductNode>> {
        catalog::product_connection(
            ctx,
            Audience::Store,
            ProductArgs { first, after, filter, sort, currency, region_id },
        )
        .await
    }

    /// Full-text search over published products, with facets (as `GET /v1/store/search`).
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: catalog::SearchInput,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `nextCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Variants' `inStock` counts this region's locations; `calculatedPrice` is in its currency.")]
        region_id: Option<RegionId>,
    ) -> GqlResult<catalog::SearchResult> {
        catalog::search(ctx, input, first, after, region_id).await
    }

    /// A published product by id or handle.
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ProductId>,
        handle: Option<String>,
        region_id: Option<RegionId>,
    ) -> GqlResult<ProductNode> {
        catalog::one_product(ctx, Audience::Store, id, handle, region_id).await
    }

    /// The category tree, flat (each with its `parentId`).
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Category>> {
        catalog::categories(ctx, first, after).await
    }

    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn collections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Collection>> {
        catalog::collections(ctx, first, after).await
    }

    /// The regions (markets) the shop sells to.
    async fn regions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Region>> {
        caller(ctx).services.regions.list().await.gql()
    }

    /// A cart by id (a signed-in customer's cart needs their token).
    async fn cart(&self, ctx: &Context<'_>, id: CartId) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.get(id, c.customer).await.gql()
    }

    /// The shipping options for a cart, priced for it.
    async fn shipping_options(&self, ctx: &Context<'_>, cart_id: CartId) -> GqlResult<Vec<CartShippingOption>> {
        let c = caller(ctx);
        c.services.carts.shipping_options(cart_id, c.customer).await.gql()
    }

    /// The signed-in customer.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Customer> {
        let who = signed_in(ctx)?;
        caller(ctx).services.customers.me(who).await.gql()
    }

    /// The signed-in customer's addresses.
    async fn addresses(&self, ctx: &Context<'_>) -> GqlResult<Vec<Address>> {
        let who = signed_in(ctx)?;
        caller(ctx).services.customers.addresses(who).await.gql()
    }

    /// The signed-in customer's orders, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Order>> {
        let who = signed_in(ctx)?;
        let (limit, before) = id_page(first, 20, after.as_deref(), OrderId::parse)?;
        let orders = caller(ctx).services.checkout.orders_of(who, before, limit + 1).await.gql()?;
        Ok(id_connection(orders, limit, before.is_some(), |o| o.id.to_string()))
    }

    /// An order: the signed-in customer's, or a guest order with the email it was placed with.
    async fn order(&self, ctx: &Context<'_>, id: OrderId, email: Option<String>) -> GqlResult<Order> {
        let c = caller(ctx);
        c.services.checkout.order(id, c.customer, email.as_deref()).await.gql()
    }
}

/// The answer to logging out.
#[derive(SimpleObject)]
struct SignedOut {
    ok: bool,
}

pub struct StoreMutation;

#[Object]
impl StoreMutation {
    /// Create a customer account (then `logIn`).
    async fn register(&self, ctx: &Context<'_>, input: Register) -> GqlResult<Customer> {
        let c = caller(ctx);
        c.charge(Class::Auth).await?;
        c.services.customers.register(input).await.gql()
    }

    /// Exchange email and password for tokens; send the access token as `Authorization: Bearer …`.
    async fn log_in(&self, ctx: &Context<'_>, email: String, password: String) -> GqlResult<TokenPair> {
        let c = caller(ctx);
        c.charge(Class::Auth).await?;
        c.services.customers.login(&email, &password, c.client).await.gql()
    }

    /// A new token pair for a refresh token (which is then spent).
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> GqlResult<TokenPair> {
        let c = caller(ctx);
        c.charge(Class::Auth).await?;
        c.services.customers.refresh(&refresh_token).await.gql()
    }

    /// End the signed-in customer's session.
    async fn log_out(&self, ctx: &Context<'_>) -> GqlResult<SignedOut> {
        let who = signed_in(ctx)?;
        caller(ctx).services.customers.logout(who).await.gql()?;
        Ok(SignedOut { ok: true })
    }

    /// Create a cart in a region (or the region selling in `currency`).
    async fn create_cart(&self, ctx: &Context<'_>, input: Option<CartCreate>) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.create(input.unwrap_or_default(), c.customer).await.gql()
    }

    /// Set the cart's email, addresses or region.
    async fn update_cart(&self, ctx: &Context<'_>, cart_id: CartId, input: CartPatch) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.update(cart_id, c.customer, input).await.gql()
    }

    /// Add a variant (adding one already in the cart raises its line's quantity).
    async fn add_cart_line(
        &self,
        ctx: &Context<'_>,
        cart_id: CartId,
        variant_id: VariantId,
        quantity: u32,
    ) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.add_line(cart_id, c.customer, LineAdd { variant_id, quantity }).await.gql()
    }

    /// Change a line's quantity.
    async fn update_cart_line(
        &self,
        ctx: &Context<'_>,
        cart_id: CartId,
        line_id: CartLineId,
        quantity: u32,
    ) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.update_line(cart_id, c.customer, line_id, LineUpdate { quantity }).await.gql()
    }

    /// Remove a line.
    async fn remove_cart_line(&self, ctx: &Context<'_>, cart_id: CartId, line_id: CartLineId) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.delete_line(cart_id, c.customer, line_id).await.gql()
    }

    /// Apply a promotion code.
    async fn apply_promotion(&self, ctx: &Context<'_>, cart_id: CartId, code: String) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.apply_code(cart_id, c.customer, CodeInput { code }).await.gql()
    }

    /// Remove a promotion code.
    async fn remove_promotion(&self, ctx: &Context<'_>, cart_id: CartId, code: String) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.remove_code(cart_id, c.customer, &code).await.gql()
    }

    /// Choose one of the cart's shipping options.
    async fn set_shipping_method(
        &self,
        ctx: &Context<'_>,
        cart_id: CartId,
        option_id: ShippingOptionId,
    ) -> GqlResult<Cart> {
        let c = caller(ctx);
        c.services.carts.choose_shipping(cart_id, c.customer, ShippingChoice { option_id }).await.gql()
    }

    /// Place the order: reserve stock, authorise the payment, create the order. The
    /// `idempotencyKey` makes a retry safe: the same key and input give the same order.
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        cart_id: CartId,
        #[graphql(desc = "Unique per checkout attempt; a retry reuses it.")] idempotency_key: String,
        input: CheckoutInput,
    ) -> GqlResult<Order> {
        let c = caller(ctx);
        c.charge(Class::Checkout).await?;
        let (order, _replayed) =
            c.services.checkout.checkout(cart_id, c.customer, &idempotency_key, input).await.gql()?;
        Ok(order)
    }
}
