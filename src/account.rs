//! `GET /v1/me`: who a token belongs to. The web client signs in with a token and needs the
//! account's id (events and orders name their viewer) and role (which page it may use).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use vitrine_api::{error::ErrorBody, extract::Auth};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    /// `creator`, `merchant` or `viewer`.
    pub role: String,
    pub name: String,
}

/// The signed-in account.
#[utoipa::path(get, path = "/v1/me", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Auth(account): Auth) -> Json<Me> {
    Json(Me {
        id: account.id.to_string(),
        role: account.role.to_string(),
        name: account.name,
    })
}
