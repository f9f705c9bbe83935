//! Shop routes, one module per resource: [`products`] (and their variants), [`images`],
//! [`tags`] (products placed in videos), [`affiliates`] (who may tag a shop's products) and
//! [`analytics`]. Each handler parses the request, asks [`crate`]'s domain modules, and maps the
//! answer to a view; the rules live there.

use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{extract::Caller, ApiError, ApiResult, AppState};
use vitrine_core::ids::ShopId;
use vitrine_identity::principal::Scope;

mod affiliates;
mod analytics;
pub mod checkout;
mod images;
mod products;
mod tags;

pub use products::{
    ImageSizeView, ImageView, NewProductBody, ProductPatchBody, ProductView, VariantView,
};
pub use tags::{view as tag_view, views as tag_views, NewTagBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(products::create_product, products::list_products))
        .routes(routes!(products::get_product, products::update_product))
        .routes(routes!(products::add_variant))
        .routes(routes!(products::update_variant))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(images::add_image))
                .layer(axum::extract::DefaultBodyLimit::max(
                    images::MAX_IMAGE_BYTES,
                )),
        )
        .routes(routes!(images::delete_image))
        .routes(routes!(analytics::shop_analytics))
        .routes(routes!(analytics::creator_earnings))
        .routes(routes!(tags::create_tag, tags::list_tags))
        .routes(routes!(tags::approve_tag))
        .routes(routes!(tags::reject_tag))
        .routes(routes!(tags::delete_tag))
        .routes(routes!(affiliates::list_blocked_affiliates))
        .routes(routes!(
            affiliates::block_affiliate,
            affiliates::unblock_affiliate
        ))
}

/// The shop named by the path's `id`, for a caller who acts for it with `scope`: 400/404/403
/// as [`member_of`] says.
pub async fn members_shop(
    state: &AppState,
    caller: &Caller,
    shop: &ShopId,
    scope: Scope,
) -> ApiResult<()> {
    caller.allow(scope)?;
    member_of(state, caller, shop).await
}

/// 404 for a shop that does not exist, 403 unless the caller acts for it (`not_a_member`, or
/// why their key does not: `wrong_shop`, `personal_key`).
pub async fn member_of(state: &AppState, caller: &Caller, shop: &ShopId) -> ApiResult<()> {
    if vitrine_identity::shops::get(&state.db, shop)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("shop"));
    }
    caller.shop(state, Some(shop)).await.map(|_| ())
}
