//! Extractors that turn requests into trusted values — or into our error format — once, not in
//! every handler.

use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, FromRequest, FromRequestParts},
    http::{
        header::{AUTHORIZATION, CONTENT_TYPE},
        request::Parts,
        HeaderMap,
    },
};
use serde::de::DeserializeOwned;
use vitrine_core::accounts::{self, Account, Role};

use crate::{error::ApiError, state::AppState};

/// The authenticated caller of a write endpoint: `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone)]
pub struct Auth(pub Account);

impl Auth {
    /// 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<&Account, ApiError> {
        if self.0.role == role {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs a {role} account; you are signed in as a {}",
                self.0.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let account = accounts::authenticate(&state.db, token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Auth(account))
    }
}

/// A caller who may be signed in: `None` without an `Authorization` header, 401 with a bad one.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Account>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(MaybeAuth(None));
        }
        Auth::from_request_parts(parts, state)
            .await
            .map(|a| MaybeAuth(Some(a.0)))
    }
}

/// Declares an extractor for callers that must hold one role: 401 without a valid token, 403
/// with a token of another role.
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Account);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
                let auth = Auth::from_request_parts(parts, state).await?;
                auth.require($role)?;
                Ok($name(auth.0))
            }
        }
    };
}

/// Someone who sells: a merchant, or a creator selling their own products (a creator can also
/// be a merchant). 401 without a valid token, 403 for viewers.
#[derive(Debug, Clone)]
pub struct Seller(pub Account);

impl FromRequestParts<AppState> for Seller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, state).await?;
        match auth.0.role {
            Role::Merchant | Role::Creator => Ok(Seller(auth.0)),
            other => Err(ApiError::forbidden(format!(
                "selling needs a merchant or creator account; you are signed in as a {other}"
            ))),
        }
    }
}

role_extractor!(
    /// A signed-in creator.
    Creator,
    Role::Creator
);
role_extractor!(
    /// A signed-in merchant.
    Merchant,
    Role::Merchant
);

/// `Json<T>` whose rejections use our error format: 400 for malformed JSON, 415 for a missing
/// content type, 422 for JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::invalid("invalid_body", e.body_text()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            )),
            Err(e) => Err(ApiError::bad_request("malformed_json", e.body_text())),
        }
    }
}

/// `Query<T>` with our error format (400).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// A list's `?limit=`: `default` when absent, else 1..=`max` or 400 `invalid_limit`.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {max}"),
        ))
    }
}

/// Parses a path segment into a typed id; an id of the wrong shape cannot name anything, so it
/// is a 404, like an unknown one.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(what))
}

/// The media type of a `Content-Type` value, without its parameters, in lower case
/// (`Video/MP4; codecs="avc1"` → `video/mp4`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The media type of the request's `Content-Type`, if it has a readable one.
pub fn request_media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
}
