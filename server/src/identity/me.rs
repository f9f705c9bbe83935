//! `/v1/me…`: who is signed in (the account, its creator handle, its shops, how it signed in),
//! turning on creator capabilities, and the account's sessions.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{ApiJson, Caller, Id},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::SessionId;
use vitrine_identity::{
    accounts::{self, Account, BecomeCreatorError, Role},
    handle::Handle,
    principal::{Credential, Scope},
    sessions,
    shops::{self, MemberRole},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub display_name: String,
    /// Null for anonymous viewers and accounts made by scripts.
    pub email: Option<String>,
    pub email_verified: bool,
    /// `user`, or `admin` for operators.
    pub role: Role,
    /// The creator handle, once creator capabilities are on.
    pub handle: Option<String>,
    pub creator: bool,
    /// A viewer session made without signing up.
    pub anonymous: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.to_string(),
            display_name: a.display_name.clone(),
            email: a.email.clone(),
            email_verified: a.email_verified,
            role: a.role,
            handle: a.handle.clone(),
            creator: a.is_creator(),
            anonymous: a.anonymous,
            created_at: a.created_at / 1000,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub shop_id: String,
    pub name: String,
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub account: AccountView,
    /// The shops this account works for.
    pub shops: Vec<MembershipView>,
    /// `session` or `api_key`.
    pub credential: &'static str,
    /// An API key's scopes (a session has them all).
    pub scopes: Vec<Scope>,
}

/// The signed-in account.
#[utoipa::path(get, path = "/v1/me", tag = "accounts",
    security(("session" = []), ("api_key" = []), ("cookie" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let shops = shops::memberships(&state.db, caller.id())
        .await?
        .into_iter()
        .map(|(shop, role)| MembershipView {
            shop_id: shop.id.to_string(),
            name: shop.name,
            role,
        })
        .collect();
    let (credential, scopes) = match &caller.0.credential {
        Credential::Session { .. } => ("session", Scope::ALL.to_vec()),
        Credential::ApiKey { scopes, .. } => ("api_key", scopes.clone()),
    };
    Ok(Json(Me {
        account: caller.account().into(),
        shops,
        credential,
        scopes,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatorBody {
    /// 3–30 of `a-z`, `0-9`, `.` and `_` (a leading `@` and capitals are accepted and dropped).
    #[schema(example = "mia")]
    pub handle: String,
}

/// Turn on creator capabilities: upload clips and earn commission. The handle is unique.
#[utoipa::path(post, path = "/v1/me/creator", tag = "accounts",
    request_body = CreatorBody,
    security(("session" = []), ("cookie" = [])),
    responses(
        (status = 200, body = AccountView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "handle_taken, already_creator"),
        (status = 422, body = ErrorBody, description = "invalid_handle"),
    ))]
pub async fn become_creator(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatorBody>,
) -> ApiResult<Json<AccountView>> {
    caller.session()?;
    let account = caller.person()?;
    let handle = Handle::parse(&body.handle)
        .map_err(|e| ApiError::invalid("invalid_handle", e.to_string()))?;
    accounts::become_creator(&state.db, &account.id, &handle)
        .await
        .map_err(|e| match e {
            BecomeCreatorError::HandleTaken => ApiError::Conflict {
                code: "handle_taken",
                message: e.to_string(),
            },
            BecomeCreatorError::AlreadyCreator(_) => ApiError::Conflict {
                code: "already_creator",
                message: e.to_string(),
            },
            BecomeCreatorError::Db(e) => e.into(),
        })?;
    let account = accounts::get(&state.db, &account.id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json((&account).into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: i64,
    /// When it ends unless used again (idle timeout) or at the latest (lifetime).
    pub expires_at: i64,
    /// The session this request was made with.
    pub current: bool,
}

/// Your sessions that still work, newest first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "accounts",
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionView>>> {
    let current = caller.session()?;
    let list = sessions::list(&state.db, &state.sessions, caller.id()).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView {
                current: &s.id == current,
                id: s.id.to_string(),
                user_agent: s.user_agent,
                created_at: s.created_at / 1000,
                last_used_at: s.last_used_at / 1000,
                expires_at: s.expires_at / 1000,
            })
            .collect(),
    ))
}

/// End one of your sessions (signs that device out).
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Session id (ses_…)")),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<SessionId>,
) -> ApiResult<StatusCode> {
    caller.session()?;
    if !sessions::end(&state.db, caller.id(), &id).await? {
        return Err(ApiError::NotFound("session"));
    }
    Ok(StatusCode::NO_CONTENT)
}
