//! The store API (`/v1/store`): public catalog reads for shoppers, and customer accounts.
//!
//! Catalog routes are public and cacheable; account routes are personal and never cached.

mod carts;
mod catalog;
pub mod customers;
mod orders;
mod search;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Public catalog reads (shared caches may keep them).
pub fn catalog_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog::list_products))
        .routes(routes!(catalog::get_product))
        .routes(routes!(catalog::list_categories))
        .routes(routes!(catalog::list_collections))
        .routes(routes!(catalog::list_regions))
        .routes(routes!(search::search))
        .routes(routes!(search::suggest))
}

/// Customer accounts and carts (`private, no-store`).
pub fn account_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customers::register))
        .routes(routes!(customers::login, customers::logout))
        .routes(routes!(customers::refresh))
        .routes(routes!(customers::request_password_reset))
        .routes(routes!(customers::confirm_password_reset))
        .routes(routes!(customers::verify_email))
        .routes(routes!(customers::get_me, customers::update_me, customers::erase_me))
        .routes(routes!(customers::export_me))
        .routes(routes!(customers::change_password))
        .routes(routes!(customers::resend_verification))
        .routes(routes!(customers::list_addresses, customers::add_address))
        .routes(routes!(customers::get_address, customers::update_address, customers::delete_address))
        .routes(routes!(carts::create_cart))
        .routes(routes!(carts::get_cart, carts::update_cart))
        .routes(routes!(carts::add_line))
        .routes(routes!(carts::claim_cart))
        .routes(routes!(carts::shipping_options))
        .routes(routes!(carts::choose_shipping))
        .routes(routes!(carts::update_line, carts::delete_line))
        .routes(routes!(carts::apply_promotion))
        .routes(routes!(carts::remove_promotion))
        .routes(routes!(orders::checkout))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::get_invoice))
        .routes(routes!(orders::payment_webhook))
}
