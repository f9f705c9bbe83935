//! What tags sold: per product × video for a shop, and a creator's earnings.

use axum::{extract::State, Json};
use vitrine_api::{
    error::ErrorBody,
    extract::{Caller, Id},
    ApiResult, AppState,
};
use vitrine_core::ids::ShopId;
use vitrine_identity::principal::Scope;

use super::members_shop;
use crate::attribution::{self, ProductVideoStats};

/// Per product × video: tag impressions, clicks, attributed orders, units, GMV, commission, CTR,
/// CVR and GPM, for the shop's products (its members).
#[utoipa::path(get, path = "/v1/shops/{id}/analytics", tag = "shop",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["analytics:read"])),
    responses((status = 200, body = Vec<ProductVideoStats>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn shop_analytics(
    State(state): State<AppState>,
    caller: Caller,
    Id(shop): Id<ShopId>,
) -> ApiResult<Json<Vec<ProductVideoStats>>> {
    members_shop(&state, &caller, &shop, Scope::AnalyticsRead).await?;
    Ok(Json(
        attribution::stats(&state.db, attribution::Scope::Shop(&shop)).await?,
    ))
}

/// Per product × video of your clips: the same figures, with the commission you earned
/// (creators only).
#[utoipa::path(get, path = "/v1/creators/me/earnings", tag = "shop",
    security(("session" = []), ("cookie" = []), ("api_key" = ["analytics:read"])),
    responses((status = 200, body = Vec<ProductVideoStats>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn creator_earnings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ProductVideoStats>>> {
    let creator = caller.allow(Scope::AnalyticsRead)?.creator()?;
    Ok(Json(
        attribution::stats(&state.db, attribution::Scope::Creator(&creator.id)).await?,
    ))
}
