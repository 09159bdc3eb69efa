//! The store API (`/v1/store`): public catalog reads for shoppers. Published products only.

mod catalog;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog::list_products))
        .routes(routes!(catalog::get_product))
        .routes(routes!(catalog::list_categories))
        .routes(routes!(catalog::list_collections))
}
