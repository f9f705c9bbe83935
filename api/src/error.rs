//! The API error type: every handler returns `ApiResult<T>`, and this is the one place that maps
//! an error to a status code and the `{"error": {"code", "message"}}` body.
//!
//! Internal errors are logged with their whole cause chain; the client only sees a generic
//! message, never database or file-system text.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;
use vitrine_identity::{auth::SignUpError, principal::AuthError, shops::ShopAccessError};

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A status the variants above do not name (410, 412, 423, tus's 460…).
    #[error("{message}")]
    Status {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// 429 with `Retry-After` (`rate_limited`, or a quota's own code).
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Status {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Status { status, code, .. } => (*status, code),
            ApiError::RateLimited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // A row this write refers to was deleted at the same moment (a tag on a video
            // being deleted): a conflict the client can understand, not a server fault.
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict {
                code: "gone",
                message: "something this request refers to was deleted meanwhile".into(),
            },
            // SQLite's single writer was held longer than the busy timeout, or every pooled
            // connection is in use: overload, not a fault. Nothing was written; retrying works.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("5" | "6" | "517"))
                    || db.message().contains("database is locked") =>
            {
                busy()
            }
            sqlx::Error::PoolTimedOut => busy(),
            _ => ApiError::Internal(anyhow::Error::new(e).context("database")),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized = |code| ApiError::status(StatusCode::UNAUTHORIZED, code, e.to_string());
        match e {
            AuthError::Unknown => ApiError::Unauthorized,
            AuthError::SessionExpired => unauthorized("session_expired"),
            AuthError::KeyRevoked => unauthorized("key_revoked"),
            AuthError::Suspended => unauthorized("account_suspended"),
            AuthError::Db(e) => e.into(),
        }
    }
}

impl From<ShopAccessError> for ApiError {
    fn from(e: ShopAccessError) -> Self {
        let forbidden = |code| ApiError::status(StatusCode::FORBIDDEN, code, e.to_string());
        match e {
            ShopAccessError::NoShop => forbidden("no_shop"),
            ShopAccessError::NotMember => forbidden("not_a_member"),
            ShopAccessError::OtherShop => forbidden("wrong_shop"),
            ShopAccessError::PersonalKey => forbidden("personal_key"),
            ShopAccessError::Ambiguous => ApiError::invalid("shop_id_required", e.to_string()),
            ShopAccessError::Db(e) => e.into(),
        }
    }
}

impl From<SignUpError> for ApiError {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::InvalidEmail => ApiError::invalid("invalid_email", e.to_string()),
            SignUpError::InvalidName => ApiError::invalid("invalid_display_name", e.to_string()),
            SignUpError::WeakPassword(_) => ApiError::invalid("weak_password", e.to_string()),
            SignUpError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                message: e.to_string(),
            },
            SignUpError::Db(e) => e.into(),
            SignUpError::Internal(e) => ApiError::Internal(e),
        }
    }
}

fn busy() -> ApiError {
    tracing::warn!("database busy: answering 503");
    ApiError::status(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the server is busy; retry in a moment",
    )
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_range`, `not_a_video`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
