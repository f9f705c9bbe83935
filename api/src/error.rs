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

use crate::codes;
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
    /// Anything unexpected: 500, logged with its cause chain, the body generic. Build it with
    /// `.into()` (or `?`), never by hand: `From<anyhow::Error>` first looks for a database error
    /// in the chain (see [`ApiError::from_database`]).
    #[error(transparent)]
    Internal(anyhow::Error),
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
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED)
            }
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE)
            }
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
            ),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Status { status, code, .. } => (*status, code),
            ApiError::RateLimited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }
}

/// **The one rule for database errors.** Repository functions return `sqlx::Result` where all
/// they do is SQL and `anyhow::Result` where they also decode or combine steps; either way the
/// `sqlx::Error` stays in the cause chain, and it is classified here, whichever function or layer
/// it came through: a busy database is 503 `busy` and an unreachable one 503 `unavailable` (both
/// with `Retry-After`), a row deleted meanwhile is 409 `gone`, anything else is 500.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from_database(&e)
            .unwrap_or_else(|| ApiError::Internal(anyhow::Error::new(e).context("database")))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        e.chain()
            .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
            .and_then(ApiError::from_database)
            .unwrap_or(ApiError::Internal(e))
    }
}

impl ApiError {
    /// What a database error means to a client, when it means something other than a fault.
    pub fn from_database(e: &sqlx::Error) -> Option<ApiError> {
        match e {
            // A row this write refers to was deleted at the same moment (a tag on a video
            // being deleted): a conflict the client can understand, not a server fault.
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Some(ApiError::Conflict {
                    code: codes::GONE,
                    message: "something this request refers to was deleted meanwhile".into(),
                })
            }
            // SQLite's single writer was held longer than the busy timeout, or every pooled
            // connection is in use: overload, not a fault. Nothing was written; retrying works.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("5" | "6" | "517"))
                    || db.message().contains("database is locked") =>
            {
                Some(busy())
            }
            sqlx::Error::PoolTimedOut => Some(busy()),
            // The database is out of reach: restarting, failing over, or the connection was cut
            // under the statement. PostgreSQL's own words for that are SQLSTATE class 08
            // (connection exception) and 57P01–57P03 (shut down by an operator, crashed,
            // cannot connect now); 53300 is too many connections. Whether the statement ran
            // is unknown only for a cut connection, and then it was in a transaction that
            // did not commit, or an idempotent request: retrying is what every client does.
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
                Some(unavailable())
            }
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300")
                }) =>
            {
                Some(unavailable())
            }
            _ => None,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized = |code| ApiError::status(StatusCode::UNAUTHORIZED, code, e.to_string());
        match e {
            AuthError::Unknown => ApiError::Unauthorized,
            AuthError::SessionExpired => unauthorized(codes::SESSION_EXPIRED),
            AuthError::KeyRevoked => unauthorized(codes::KEY_REVOKED),
            AuthError::Suspended => unauthorized(codes::ACCOUNT_SUSPENDED),
            AuthError::Db(e) => e.into(),
        }
    }
}

impl From<ShopAccessError> for ApiError {
    fn from(e: ShopAccessError) -> Self {
        let forbidden = |code| ApiError::status(StatusCode::FORBIDDEN, code, e.to_string());
        match e {
            ShopAccessError::NoShop => forbidden(codes::NO_SHOP),
            ShopAccessError::NotMember => forbidden(codes::NOT_A_MEMBER),
            ShopAccessError::OtherShop => forbidden(codes::WRONG_SHOP),
            ShopAccessError::PersonalKey => forbidden(codes::PERSONAL_KEY),
            ShopAccessError::Ambiguous => ApiError::invalid(codes::SHOP_ID_REQUIRED, e.to_string()),
            ShopAccessError::Db(e) => e.into(),
        }
    }
}

impl From<SignUpError> for ApiError {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::InvalidEmail => ApiError::invalid(codes::INVALID_EMAIL, e.to_string()),
            SignUpError::InvalidName => {
                ApiError::invalid(codes::INVALID_DISPLAY_NAME, e.to_string())
            }
            SignUpError::WeakPassword(_) => ApiError::invalid(codes::WEAK_PASSWORD, e.to_string()),
            SignUpError::EmailTaken => ApiError::Conflict {
                code: codes::EMAIL_TAKEN,
                message: e.to_string(),
            },
            SignUpError::Db(e) => e.into(),
            SignUpError::Internal(e) => e.into(),
        }
    }
}

fn busy() -> ApiError {
    tracing::warn!("database busy: answering 503");
    ApiError::status(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::BUSY,
        "the server is busy; retry in a moment",
    )
}

fn unavailable() -> ApiError {
    tracing::warn!("database unreachable: answering 503");
    ApiError::status(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::UNAVAILABLE,
        "the database cannot be reached for a moment; retry",
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

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, error::Error as StdError, fmt};

    use anyhow::Context;
    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A database error as a driver reports it: SQLite's code and message.
    #[derive(Debug)]
    struct DriverError {
        code: &'static str,
        message: &'static str,
        foreign_key: bool,
    }

    impl fmt::Display for DriverError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl StdError for DriverError {}

    impl DatabaseError for DriverError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            if self.foreign_key {
                ErrorKind::ForeignKeyViolation
            } else {
                ErrorKind::Other
            }
        }
    }

    fn locked() -> sqlx::Error {
        sqlx::Error::Database(Box::new(DriverError {
            code: "5",
            message: "database is locked",
            foreign_key: false,
        }))
    }

    fn foreign_key() -> sqlx::Error {
        sqlx::Error::Database(Box::new(DriverError {
            code: "787",
            message: "FOREIGN KEY constraint failed",
            foreign_key: true,
        }))
    }

    fn answer(e: ApiError) -> (StatusCode, &'static str) {
        e.status_and_code()
    }

    /// What a repository function returns, through `?` in an `anyhow::Result` function with a
    /// context on top, as `videos::get` and its callers do.
    fn through_anyhow(e: sqlx::Error) -> anyhow::Error {
        Err::<(), _>(e)
            .context("reading the video")
            .context("building the page")
            .unwrap_err()
    }

    #[test]
    fn an_unreachable_database_is_503_unavailable_not_a_fault() {
        let postgres = |code| {
            sqlx::Error::Database(Box::new(DriverError {
                code,
                message: "terminating connection due to administrator command",
                foreign_key: false,
            }))
        };
        let cut = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        for e in [
            cut(),
            postgres("57P01"),
            postgres("57P03"),
            postgres("08006"),
            postgres("53300"),
        ] {
            assert_eq!(
                answer(e.into()),
                (StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE)
            );
        }
        assert_eq!(
            answer(through_anyhow(cut()).into()),
            (StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE)
        );
        // A statement the database refused for what it says is still a fault of ours.
        assert_eq!(
            answer(postgres("42601").into()),
            (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
        );
    }

    #[test]
    fn a_busy_database_is_503_whichever_error_type_carried_it() {
        let direct = answer(locked().into());
        let wrapped = answer(through_anyhow(locked()).into());
        let pool = answer(through_anyhow(sqlx::Error::PoolTimedOut).into());
        for got in [direct, wrapped, pool] {
            assert_eq!(got, (StatusCode::SERVICE_UNAVAILABLE, codes::BUSY));
        }
    }

    #[test]
    fn a_row_deleted_meanwhile_is_409_gone_whichever_error_type_carried_it() {
        assert_eq!(
            answer(foreign_key().into()),
            (StatusCode::CONFLICT, codes::GONE)
        );
        assert_eq!(
            answer(through_anyhow(foreign_key()).into()),
            (StatusCode::CONFLICT, codes::GONE)
        );
    }

    #[test]
    fn other_database_errors_are_internal_and_say_nothing_to_the_client() {
        let e: ApiError = through_anyhow(sqlx::Error::RowNotFound).into();
        assert_eq!(
            answer(e),
            (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
        );
        let e: ApiError = anyhow::anyhow!("disk on fire").into();
        assert!(matches!(e, ApiError::Internal(_)));
    }
}
