//! The creators a shop blocked from tagging its products.

use axum::{extract::State, http::StatusCode, Json};
use vitrine_api::{
    error::ErrorBody,
    extract::{Caller, Id, Ids},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::{AccountId, ShopId};
use vitrine_identity::principal::Scope;

use super::members_shop;
use crate::{
    affiliates::{self, Blocked},
    codes,
};

/// The creators your shop blocked from tagging its products.
#[utoipa::path(get, path = "/v1/shops/{id}/blocked-affiliates", tag = "shop",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:read"])),
    responses((status = 200, body = Vec<Blocked>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_blocked_affiliates(
    State(state): State<AppState>,
    caller: Caller,
    Id(shop): Id<ShopId>,
) -> ApiResult<Json<Vec<Blocked>>> {
    members_shop(&state, &caller, &shop, Scope::ProductsRead).await?;
    Ok(Json(affiliates::list(&state.db, &shop).await?))
}

/// Block a creator from tagging your shop's products: their tags on them are removed, and new
/// ones are refused (403 `blocked_by_shop`). Blocking twice is the same as once.
#[utoipa::path(put, path = "/v1/shops/{id}/blocked-affiliates/{account_id}", tag = "shop",
    params(
        ("id" = String, Path, description = "Shop id (shp_…)"),
        ("account_id" = String, Path, description = "The creator's account id (acc_…)"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn block_affiliate(
    State(state): State<AppState>,
    caller: Caller,
    Ids(shop, creator): Ids<ShopId, AccountId>,
) -> ApiResult<StatusCode> {
    members_shop(&state, &caller, &shop, Scope::ProductsWrite).await?;
    vitrine_identity::accounts::get(&state.db, &creator)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if vitrine_identity::shops::role_in(&state.db, &shop, &creator)
        .await?
        .is_some()
    {
        return Err(ApiError::invalid(
            codes::SHOP_MEMBER,
            "a member of the shop cannot be blocked from it; remove them from the shop",
        ));
    }
    affiliates::block(&state.db, &shop, &creator).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Let a blocked creator tag your shop's products again (their removed tags do not return).
#[utoipa::path(delete, path = "/v1/shops/{id}/blocked-affiliates/{account_id}", tag = "shop",
    params(
        ("id" = String, Path, description = "Shop id (shp_…)"),
        ("account_id" = String, Path, description = "The creator's account id (acc_…)"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unblock_affiliate(
    State(state): State<AppState>,
    caller: Caller,
    Ids(shop, creator): Ids<ShopId, AccountId>,
) -> ApiResult<StatusCode> {
    members_shop(&state, &caller, &shop, Scope::ProductsWrite).await?;
    if !affiliates::unblock(&state.db, &shop, &creator).await? {
        return Err(ApiError::NotFound("blocked affiliate"));
    }
    Ok(StatusCode::NO_CONTENT)
}
