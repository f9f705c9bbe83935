//! `/v1/admin/…`: operators find accounts and suspend or restore them.

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiJson, ApiQuery, Caller, Id},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::AccountId;
use vitrine_identity::accounts::{self, Account};

use super::me::AccountView;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// Part of an email, display name or handle (any case).
    pub q: Option<String>,
    /// Items per page, 1..=100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAccountView {
    #[serde(flatten)]
    pub account: AccountView,
    pub suspended: bool,
}

impl From<&Account> for AdminAccountView {
    fn from(a: &Account) -> Self {
        AdminAccountView {
            account: a.into(),
            suspended: a.suspended,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    pub items: Vec<AdminAccountView>,
    pub next_cursor: Option<String>,
}

/// Accounts, newest first, optionally matching `q` (operators only).
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "admin",
    params(AccountsQuery),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AccountPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn accounts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> ApiResult<Json<AccountPage>> {
    caller.operator()?;
    let limit = page_limit(q.limit, 50, 100)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<AccountId>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))
        })
        .transpose()?;
    let q_text = q.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let mut page = accounts::search(&state.db, q_text, after.as_ref(), limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    Ok(Json(AccountPage {
        next_cursor: more
            .then(|| page.last().map(|a| a.id.to_string()))
            .flatten(),
        items: page.iter().map(AdminAccountView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// Why (kept for operators).
    pub reason: String,
}

/// Suspend an account: its sessions and keys stop working at once (401 `account_suspended`),
/// its clips leave the feed, its shops stop selling. Nothing is deleted.
#[utoipa::path(post, path = "/v1/admin/accounts/{id}/suspend", tag = "admin",
    params(("id" = String, Path, description = "Account id (acc_…)")),
    request_body = SuspendBody,
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AdminAccountView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<AccountId>,
    ApiJson(body): ApiJson<SuspendBody>,
) -> ApiResult<Json<AdminAccountView>> {
    let operator = caller.operator()?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid(
            "invalid_reason",
            "say why, in at most 500 characters",
        ));
    }
    if id == operator.id {
        return Err(ApiError::invalid(
            "cannot_suspend_self",
            "an operator cannot suspend their own account",
        ));
    }
    set(&state, &id, Some(reason), &operator.id).await
}

/// Restore a suspended account: everything works again as before.
#[utoipa::path(post, path = "/v1/admin/accounts/{id}/restore", tag = "admin",
    params(("id" = String, Path, description = "Account id (acc_…)")),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AdminAccountView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<AccountId>,
) -> ApiResult<Json<AdminAccountView>> {
    let operator = caller.operator()?;
    set(&state, &id, None, &operator.id).await
}

async fn set(
    state: &AppState,
    id: &AccountId,
    reason: Option<&str>,
    by: &AccountId,
) -> ApiResult<Json<AdminAccountView>> {
    if !accounts::set_suspended(&state.db, id, reason).await? {
        return Err(ApiError::NotFound("account"));
    }
    tracing::info!(account = %id, operator = %by, suspended = reason.is_some(), reason, "account suspension changed");
    let account = accounts::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json((&account).into()))
}
