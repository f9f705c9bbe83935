//! `/v1/shops…`: open a shop (the caller owns it), read it, and — its owner — invite and remove
//! staff, who accept (or leave) themselves. Members act for the shop on products, tags, orders
//! and analytics.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{parse_id, ApiJson, Caller, Id, MaybeCaller},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::{AccountId, ShopId};
use vitrine_identity::{
    accounts,
    principal::Scope,
    shops::{self, JoinError, MemberRole, MembershipError, Shop},
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

async fn existing(state: &AppState, id: &ShopId) -> ApiResult<Shop> {
    shops::get(&state.db, id)
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
    caller: MaybeCaller,
    Id(id): Id<ShopId>,
) -> ApiResult<Json<ShopView>> {
    caller.allow(Scope::ProductsRead)?;
    Ok(Json((&existing(&state, &id).await?).into()))
}

/// The shop, if the caller is its owner (signed in with a session).
async fn owned(state: &AppState, caller: &Caller, id: &ShopId) -> ApiResult<Shop> {
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
    /// The email of the person to invite.
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

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub shop_id: String,
    pub email: String,
    /// `invited`: the person accepts with `POST /v1/shops/{id}/join` once signed in with this
    /// email, verified.
    pub status: &'static str,
}

/// Invite someone to work for the shop as staff, by email (the shop's owner only). Nobody is
/// made a member without their consent: they accept once signed in with that email, verified
/// (`POST /v1/shops/{id}/join`). The answer is the same whether the email has an account yet.
#[utoipa::path(post, path = "/v1/shops/{id}/members", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    request_body = NewMemberBody,
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 202, body = InvitationView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already_member"),
        (status = 422, body = ErrorBody, description = "invalid_email, invalid_role"),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ShopId>,
    ApiJson(body): ApiJson<NewMemberBody>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let shop = owned(&state, &caller, &id).await?;
    if body.role != MemberRole::Staff {
        return Err(ApiError::invalid(
            "invalid_role",
            "members are added as staff: a shop has one owner",
        ));
    }
    let email = accounts::parse_email(&body.email)
        .ok_or_else(|| ApiError::invalid("invalid_email", "that is not an email address"))?;
    shops::invite(&state.db, &shop.id, &email, caller.id())
        .await
        .map_err(membership_error)?;
    send_invitation(&state, &shop, &email);
    Ok((
        StatusCode::ACCEPTED,
        Json(InvitationView {
            shop_id: shop.id.to_string(),
            email,
            status: "invited",
        }),
    ))
}

/// Mails the invitation, in the background (a failure is logged).
fn send_invitation(state: &AppState, shop: &Shop, email: &str) {
    let (state, shop, email) = (state.clone(), shop.clone(), email.to_owned());
    tokio::spawn(async move {
        let link = format!("{}/merchant", state.urls.public);
        let body = format!(
            "Hello,\n\n{} invited you to work on its shop on Vitrine. Sign up or sign in with \
             this email address (verified), then accept the invitation:\n\n{link}\n\n\
             If you do not know this shop, ignore this message.\n",
            shop.name
        );
        let subject = format!("{} invited you to its shop", shop.name);
        if let Err(e) = state.mail.send(&email, &subject, body, &link).await {
            tracing::warn!(shop = %shop.id, error = ?e, "sending a shop invitation failed");
        }
    });
}

/// Accept a shop's invitation to your email address (verified): you become its staff.
#[utoipa::path(post, path = "/v1/shops/{id}/join", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 200, body = Vec<MemberView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "email_not_verified"),
        (status = 404, body = ErrorBody, description = "no invitation for your email"),
        (status = 409, body = ErrorBody, description = "already_member"),
    ))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ShopId>,
) -> ApiResult<Json<Vec<MemberView>>> {
    caller.session()?;
    let account = caller.person()?;
    let shop = existing(&state, &id).await?;
    shops::join(&state.db, &shop.id, account)
        .await
        .map_err(|e| match e {
            JoinError::NotInvited => ApiError::NotFound("invitation"),
            JoinError::EmailNotVerified => {
                ApiError::status(StatusCode::FORBIDDEN, "email_not_verified", e.to_string())
            }
            JoinError::Membership(e) => membership_error(e),
            JoinError::Db(e) => e.into(),
        })?;
    Ok(Json(members_of(&state, &shop).await?))
}

/// The shops that invited your email address.
#[utoipa::path(get, path = "/v1/me/invitations", tag = "shops",
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ShopView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn my_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ShopView>>> {
    caller.session()?;
    let account = caller.person()?;
    let shops = match &account.email {
        Some(email) => shops::invitations(&state.db, email).await?,
        None => Vec::new(),
    };
    Ok(Json(shops.iter().map(ShopView::from).collect()))
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
    Id(id): Id<ShopId>,
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

/// Remove a staff member (the shop's owner), or leave the shop (a staff member, themselves);
/// their keys for the shop stop working.
#[utoipa::path(delete, path = "/v1/shops/{id}/members/{account_id}", tag = "shops",
    params(("id" = String, Path, description = "Shop id (shp_…)"), ("account_id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let account: AccountId = parse_id(&account, "member")?;
    let id: ShopId = parse_id(&id, "shop")?;
    let shop = if &account == caller.id() {
        caller.session()?;
        existing(&state, &id).await?
    } else {
        owned(&state, &caller, &id).await?
    };
    shops::remove(&state.db, &shop.id, &account)
        .await
        .map_err(membership_error)?;
    Ok(StatusCode::NO_CONTENT)
}
