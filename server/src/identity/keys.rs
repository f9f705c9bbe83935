//! `/v1/api-keys…`: integrators' keys. A key is made, listed and revoked with a session (keys
//! cannot make keys); a shop's key only by the shop's owner.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{ApiJson, Caller, Id},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::{ApiKeyId, ShopId};
use vitrine_identity::{
    api_keys::{self, ApiKey},
    principal::Scope,
    shops::{self, MemberRole},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    #[schema(example = "Order sync")]
    pub name: String,
    /// What the key may do: `videos:read`, `videos:write`, `products:read`, `products:write`,
    /// `orders:read`, `orders:write`, `analytics:read`, `events:write`.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    pub scopes: Vec<String>,
    /// Make a key that acts for this shop (its owner only); without it, the key acts for you.
    pub shop_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell it apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub shop_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds (to the minute); null if never used.
    pub last_used_at: Option<i64>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id.to_string(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            shop_id: k.shop.as_ref().map(ToString::to_string),
            created_at: k.created_at / 1000,
            last_used_at: k.last_used_at.map(|t| t / 1000),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyView {
    #[serde(flatten)]
    pub key: KeyView,
    /// The key itself (`vk_live_…`): shown this once, send it as `Authorization: Bearer`.
    pub secret: String,
}

/// Make an API key with scopes (for you, or for a shop you own). The key is shown once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api keys",
    request_body = NewKeyBody,
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 201, body = NewKeyView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_scope, invalid_key_name, unknown_shop"),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> ApiResult<(StatusCode, Json<NewKeyView>)> {
    caller.session()?;
    let account = caller.person()?;
    let name = body.name.trim();
    if !(1..=80).contains(&name.chars().count()) {
        return Err(ApiError::invalid(
            "invalid_key_name",
            "a key's name is 1 to 80 characters",
        ));
    }
    if body.scopes.is_empty() {
        return Err(ApiError::invalid(
            "invalid_scope",
            "give the key at least one scope",
        ));
    }
    let scopes = body
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid("invalid_scope", e.to_string()))?;
    let shop = match &body.shop_id {
        None => None,
        Some(raw) => {
            let id = raw.parse::<ShopId>().ok();
            let role = match &id {
                Some(id) => shops::role_in(&state.db, id, &account.id).await?,
                None => None,
            };
            match role {
                Some(MemberRole::Owner) => id,
                Some(MemberRole::Staff) => {
                    return Err(ApiError::status(
                        StatusCode::FORBIDDEN,
                        "not_shop_owner",
                        "only the shop's owner makes its API keys",
                    ))
                }
                None => {
                    return Err(ApiError::invalid(
                        "unknown_shop",
                        "shop_id does not name a shop you own",
                    ))
                }
            }
        }
    };
    let created = api_keys::create(&state.db, &account.id, name, &scopes, shop.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyView {
            key: (&created.key).into(),
            secret: created.secret,
        }),
    ))
}

/// The shops whose keys the caller manages (those they own).
async fn owned_shops(state: &AppState, caller: &Caller) -> ApiResult<Vec<ShopId>> {
    Ok(shops::memberships(&state.db, caller.id())
        .await?
        .into_iter()
        .filter(|(_, role)| *role == MemberRole::Owner)
        .map(|(shop, _)| shop.id)
        .collect())
}

/// Your keys and those of the shops you own (never the secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api keys",
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<KeyView>>> {
    caller.session()?;
    let shops = owned_shops(&state, &caller).await?;
    let keys = api_keys::list(&state.db, caller.id(), &shops).await?;
    Ok(Json(keys.iter().map(KeyView::from).collect()))
}

/// Revoke a key: it stops working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api keys",
    params(("id" = String, Path, description = "Key id (key_…)")),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ApiKeyId>,
) -> ApiResult<StatusCode> {
    caller.session()?;
    let key = api_keys::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    let mine = match &key.shop {
        None => &key.created_by == caller.id(),
        Some(shop) => owned_shops(&state, &caller).await?.contains(shop),
    };
    if !mine {
        // Someone else's key is not acknowledged to exist.
        return Err(ApiError::NotFound("API key"));
    }
    api_keys::revoke(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
