//! `/v1/shops…`: open a shop (the caller owns it), read it, and — its owner — add and remove
//! staff. Members act for the shop on products, tags, orders and analytics.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{parse_id, ApiJson, Caller, MaybeCaller},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::{AccountId, ShopId};
use vitrine_identity::{
    accounts,
    principal::Scope,
    shops::{self, MemberRole, MembershipError, Shop},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShopBody {
    #[schema(example = "Glow Co")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&Shop> for ShopView {
    fn from(s: &Shop) -> Self {
        ShopView {
            id: s.id.to_string(),
            name: s.name.clone(),
            owner_id: s.owner.to_string(),
            created_at: s.created_at / 1000,
        }
    }
}

/// Open a shop: you are its owner.
#[utoipa::path(post, path = "/v1/shops", tag = "shops",
    request_body = NewShopBody,
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 201, body = ShopView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_shop_name"),
    ))]
pub async fn create_shop(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewShopBody>,
) -> ApiResult<(StatusCode, Json<ShopView>)> {
    caller.session()?;
    let owner = caller.person()?;
    let name = shops::parse_name(&body.name).ok_or_else(|| {
        ApiError::invalid("invalid_shop_name", "a shop's name is 1 to 80 characters")
    })?;
    let mut tx = state.db.begin().await?;
    let shop = shops::create(&mut tx, &owner.id, &name).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json((&shop).into())))
}

async fn existing(state: &AppState, id: &str) -> ApiResult<Shop> {
    let id: ShopId = parse_id(id, "shop")?;
    shops::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("shop"))
}

/// A shop (public: its name and owner).
#[utoipa::path(get, path = "/v1/shops/{id}", tag = "shops",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["products:read"])),
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    responses((status = 200, body = ShopView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_shop(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ShopView>> {
    if let Some(caller) = &caller {
        caller.allow(Scope::ProductsRead)?;
    }
    Ok(Json((&existing(&state, &id).await?).into()))
}

/// The shop, if the caller is its owner (signed in with a session).
async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Shop> {
    caller.session()?;
    let shop = existing(state, id).await?;
    if &shop.owner != caller.id() {
        return Err(ApiError::status(
            StatusCode::FORBIDDEN,
            "not_shop_owner",
            "only the shop's owner manages its members",
        ));
    }
    Ok(shop)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberBody {
    /// The email of the account to add (it must have signed up).
    pub email: String,
    /// `staff` (a shop has one owner).
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub account_id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: MemberRole,
    /// Unix seconds.
    pub since: i64,
}

/// Add a staff member by email (the shop's owner only).
#[utoipa::path(post, path = "/v1/shops/{id}/members", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    request_body = NewMemberBody,
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 201, body = Vec<MemberView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already_member"),
        (status = 422, body = ErrorBody, description = "unknown_email, invalid_role"),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewMemberBody>,
) -> ApiResult<(StatusCode, Json<Vec<MemberView>>)> {
    let shop = owned(&state, &caller, &id).await?;
    if body.role != MemberRole::Staff {
        return Err(ApiError::invalid(
            "invalid_role",
            "members are added as staff: a shop has one owner",
        ));
    }
    let account = match accounts::parse_email(&body.email) {
        Some(email) => accounts::by_email(&state.db, &email).await?,
        None => None,
    }
    .ok_or_else(|| {
        ApiError::invalid(
            "unknown_email",
            "no account has that email: ask them to sign up first",
        )
    })?;
    shops::add_staff(&state.db, &shop.id, &account.id)
        .await
        .map_err(membership_error)?;
    Ok((StatusCode::CREATED, Json(members_of(&state, &shop).await?)))
}

fn membership_error(e: MembershipError) -> ApiError {
    match e {
        MembershipError::AlreadyMember => ApiError::Conflict {
            code: "already_member",
            message: e.to_string(),
        },
        MembershipError::Owner => ApiError::Conflict {
            code: "owner_stays",
            message: e.to_string(),
        },
        MembershipError::NotMember => ApiError::NotFound("member"),
        MembershipError::Db(e) => e.into(),
    }
}

async fn members_of(state: &AppState, shop: &Shop) -> ApiResult<Vec<MemberView>> {
    Ok(shops::members(&state.db, &shop.id)
        .await?
        .into_iter()
        .map(|m| MemberView {
            account_id: m.account.to_string(),
            display_name: m.display_name,
            email: m.email,
            role: m.role,
            since: m.since / 1000,
        })
        .collect())
}

/// The shop's members (any member may read them).
#[utoipa::path(get, path = "/v1/shops/{id}/members", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<MemberView>>> {
    caller.session()?;
    let shop = existing(&state, &id).await?;
    if shops::role_in(&state.db, &shop.id, caller.id())
        .await?
        .is_none()
    {
        return Err(ApiError::status(
            StatusCode::FORBIDDEN,
            "not_a_member",
            "only the shop's members see who works there",
        ));
    }
    Ok(Json(members_of(&state, &shop).await?))
}

/// Remove a staff member (the shop's owner only); their keys for the shop stop working.
#[utoipa::path(delete, path = "/v1/shops/{id}/members/{account_id}", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)"), ("account_id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let shop = owned(&state, &caller, &id).await?;
    let account: AccountId = parse_id(&account, "member")?;
    shops::remove(&state.db, &shop.id, &account)
        .await
        .map_err(membership_error)?;
    Ok(StatusCode::NO_CONTENT)
}
