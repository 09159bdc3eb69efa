//! The admin API (`/v1/admin`): catalog, customers, access, job queue and webhooks, for staff and
//! API keys. Every handler takes an `Authorized<Permission>` argument naming what it needs (the
//! sign-in routes under `/v1/admin/auth` are the public exceptions); responses are never cached.

pub mod access;
mod catalog;
mod customers;
mod inventory;
mod jobs;
mod orders;
mod pricing;
mod webhooks;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog::list_products, catalog::create_product))
        .routes(routes!(catalog::get_product, catalog::update_product))
        .routes(routes!(catalog::archive_product))
        .routes(routes!(catalog::add_variant))
        .routes(routes!(catalog::get_variant, catalog::update_variant, catalog::delete_variant))
        .routes(routes!(catalog::set_variant_prices))
        .routes(routes!(catalog::list_categories, catalog::create_category))
        .routes(routes!(catalog::get_category, catalog::update_category, catalog::delete_category))
        .routes(routes!(catalog::list_collections, catalog::create_collection))
        .routes(routes!(catalog::get_collection, catalog::update_collection, catalog::delete_collection))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::job_summary))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::retry_job))
        .routes(routes!(jobs::discard_job))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::get_customer))
        .routes(routes!(access::me))
        .routes(routes!(access::login, access::logout))
        .routes(routes!(access::refresh))
        .routes(routes!(access::change_password))
        .routes(routes!(access::oidc_providers))
        .routes(routes!(access::oidc_login))
        .routes(routes!(access::oidc_callback))
        .routes(routes!(access::accept_invitation))
        .routes(routes!(access::list_staff))
        .routes(routes!(access::get_staff, access::update_staff))
        .routes(routes!(access::list_invitations, access::invite_staff))
        .routes(routes!(access::list_roles, access::create_role))
        .routes(routes!(access::get_role, access::update_role, access::delete_role))
        .routes(routes!(access::list_api_keys, access::create_api_key))
        .routes(routes!(access::revoke_api_key))
        .routes(routes!(access::audit_log))
        .routes(routes!(inventory::list_locations))
        .routes(routes!(inventory::get_inventory, inventory::set_inventory, inventory::update_inventory_item))
        .routes(routes!(inventory::list_movements))
        .routes(routes!(inventory::low_stock))
        .routes(routes!(inventory::list_regions, inventory::create_region))
        .routes(routes!(inventory::get_region, inventory::update_region, inventory::delete_region))
        .routes(routes!(inventory::list_shipping_options, inventory::create_shipping_option))
        .routes(routes!(inventory::delete_shipping_option))
        .routes(routes!(inventory::list_tax_rates, inventory::create_tax_rate))
        .routes(routes!(inventory::delete_tax_rate))
        .routes(routes!(inventory::set_tax_class))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::order_summary))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::capture_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(orders::fulfill_order))
        .routes(routes!(orders::deliver_fulfillment))
        .routes(routes!(orders::refund_order))
        .routes(routes!(orders::request_return))
        .routes(routes!(orders::receive_return))
        .routes(routes!(orders::edit_order))
        .routes(routes!(pricing::list_groups, pricing::create_group))
        .routes(routes!(pricing::get_group, pricing::update_group, pricing::delete_group))
        .routes(routes!(pricing::list_members, pricing::add_members))
        .routes(routes!(pricing::remove_member))
        .routes(routes!(pricing::list_price_lists, pricing::create_price_list))
        .routes(routes!(pricing::get_price_list, pricing::update_price_list, pricing::delete_price_list))
        .routes(routes!(pricing::list_promotions, pricing::create_promotion))
        .routes(routes!(pricing::get_promotion, pricing::update_promotion, pricing::delete_promotion))
}
