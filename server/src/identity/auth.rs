//! `/v1/auth/…`: sign up, sign in, anonymous viewers, sign out, password reset and email
//! verification (links sent by mail). Each answer that starts a
//! session carries its token (for apps, as `Authorization: Bearer`) and sets the pages' session
//! cookie (`HttpOnly; SameSite=Lax`, `Secure` over HTTPS).

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{AppendHeaders, IntoResponse, Response},
    Json,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{ApiJson, Caller, CallerIfValid, ClientAddr, NotCrossSite, SESSION_COOKIE},
    ApiError, ApiResult, AppState,
};
use vitrine_identity::{
    accounts::Account,
    auth::{self, LogInError, ResetError, SignUp},
    sessions::{self, Started},
};

use super::me::AccountView;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpBody {
    #[schema(example = "mia@example.com")]
    pub email: String,
    /// At least 8 characters, not a common password, not the email.
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: SecretString,
    #[schema(example = "Mia")]
    pub display_name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInBody {
    pub email: String,
    #[schema(value_type = String)]
    pub password: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionGranted {
    pub account: AccountView,
    /// The session token: `Authorization: Bearer TOKEN`. Shown once.
    pub token: String,
    /// When the session ends if it is not used again (Unix seconds): the idle timeout. Each use
    /// pushes it back, up to the session's lifetime after sign-in.
    pub expires_at: i64,
}

/// The answer that starts a session: its token in the body, and the pages' cookie.
fn granted(state: &AppState, status: StatusCode, account: &Account, session: Started) -> Response {
    // The cookie lives as long as the session could (its absolute lifetime): the idle timeout is
    // the server's to enforce, and each use pushes it back.
    let max_age = state.sessions.lifetime_ms.max(0) / 1000;
    let cookie = session_cookie(state, &session.token, max_age);
    (
        status,
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(SessionGranted {
            account: account.into(),
            token: session.token,
            expires_at: session.expires_at / 1000,
        }),
    )
        .into_response()
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.urls.public.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("a token is header-safe")
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// An anonymous viewer's account the caller brings along (its history is kept).
fn anonymous_caller(caller: &Option<Caller>) -> Option<&Caller> {
    caller
        .as_ref()
        .filter(|c| c.account().anonymous && c.session().is_ok())
}

/// The caller's own account, if it has no email yet (an anonymous viewer's, or one made before
/// sign-up existed or by a script): signing up gives it one.
fn claimable(caller: &Option<Caller>) -> Option<&Caller> {
    caller
        .as_ref()
        .filter(|c| c.account().email.is_none() && c.session().is_ok())
}

/// Create an account with an email and a password; starts a session. Called with the session
/// of an account that has no email — an anonymous viewer's, or one made before sign-up existed
/// or by a script — that account becomes this one and keeps its history, clips and shops.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth",
    request_body = SignUpBody,
    responses(
        (status = 201, body = SessionGranted),
        (status = 409, body = ErrorBody, description = "email_taken"),
        (status = 422, body = ErrorBody, description = "invalid_email, weak_password, invalid_display_name"),
    ))]
pub async fn signup(
    _: NotCrossSite,
    State(state): State<AppState>,
    CallerIfValid(caller): CallerIfValid,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignUpBody>,
) -> ApiResult<Response> {
    let anonymous = claimable(&caller).map(|c| c.id().clone());
    let (account, session) = auth::sign_up(
        &state.db,
        &state.sessions,
        SignUp {
            email: &body.email,
            password: &body.password,
            display_name: &body.display_name,
        },
        anonymous.as_ref(),
        user_agent(&headers),
    )
    .await?;
    tracing::info!(account = %account.id, kept_history = anonymous.is_some(), "signed up");
    send_verification(&state, account.clone());
    Ok(granted(&state, StatusCode::CREATED, &account, session))
}

/// Sign in with an email and a password. A wrong password and an unknown email get the same
/// answer in the same time; repeated failures slow down, then get 429 with `Retry-After`.
/// Called with an anonymous viewer's session, what it watched and liked moves to this account.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    request_body = LogInBody,
    responses(
        (status = 200, body = SessionGranted),
        (status = 401, body = ErrorBody, description = "invalid_credentials, account_suspended"),
        (status = 429, body = ErrorBody, description = "too_many_attempts"),
    ))]
pub async fn login(
    _: NotCrossSite,
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    CallerIfValid(caller): CallerIfValid,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LogInBody>,
) -> ApiResult<Response> {
    let logged_in = auth::log_in(
        &state.db,
        &state.sessions,
        &body.email,
        &body.password,
        &peer.to_string(),
        user_agent(&headers),
    )
    .await;
    let (account, session) = match logged_in {
        Ok(done) => done,
        Err(e @ LogInError::InvalidCredentials) => {
            return Err(ApiError::status(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ))
        }
        Err(e @ LogInError::Suspended) => {
            return Err(ApiError::status(
                StatusCode::UNAUTHORIZED,
                "account_suspended",
                e.to_string(),
            ))
        }
        Err(e @ LogInError::Throttled(after)) => {
            let mut response = ApiError::status(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                e.to_string(),
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
            return Ok(response);
        }
        Err(LogInError::Db(e)) => return Err(e.into()),
        Err(LogInError::Internal(e)) => return Err(e.into()),
    };
    if let Some(anonymous) = anonymous_caller(&caller) {
        if anonymous.id() != &account.id {
            vitrine_feed::store::merge_viewer(
                &state.db,
                anonymous.id().as_str(),
                account.id.as_str(),
            )
            .await?;
            vitrine_shop::attribution::merge_viewer(&state.db, anonymous.id(), &account.id).await?;
            if let Ok(id) = anonymous.session() {
                sessions::end(&state.db, anonymous.id(), id).await?;
            }
        }
    }
    Ok(granted(&state, StatusCode::OK, &account, session))
}

/// A viewer session without signing up, for a phone or browser: its feed learns from its own
/// events. Signing up or in later with its token keeps what it did.
#[utoipa::path(post, path = "/v1/auth/anonymous", tag = "auth",
    responses((status = 201, body = SessionGranted)))]
pub async fn anonymous(
    _: NotCrossSite,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (account, session) =
        auth::anonymous(&state.db, &state.sessions, user_agent(&headers)).await?;
    Ok(granted(&state, StatusCode::CREATED, &account, session))
}

/// End this session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let session = caller.session()?;
    sessions::end(&state.db, caller.id(), session).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, session_cookie(&state, "", 0))]),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    /// How many sessions were ended.
    pub ended: u64,
}

/// End every other session of this account (this one stays signed in).
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth",
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Ended), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout_all(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Ended>> {
    let session = caller.session()?;
    let mut conn = state.db.pool().acquire().await?;
    let ended = sessions::end_all(&mut conn, caller.id(), Some(session)).await?;
    state.db.changed(vitrine_core::changes::Topic::Identity);
    Ok(Json(Ended { ended }))
}

/// Mails a verification link for `account`'s email, in the background (the answer does not wait
/// for the mail server, and a failure is logged, not the caller's problem).
pub fn send_verification(state: &AppState, account: Account) {
    let state = state.clone();
    tokio::spawn(async move {
        let sent = async {
            let Some(token) = auth::verification_link(&state.db, &account).await? else {
                return anyhow::Ok(());
            };
            let link = format!("{}/verify-email?token={token}", state.urls.public);
            let to = account.email.as_deref().unwrap_or_default();
            let body = format!(
                "Hello {},\n\nConfirm this email address for your Vitrine account:\n\n{link}\n\n\
                 The link works once, for 48 hours. If you did not sign up, ignore this message.\n",
                account.display_name
            );
            state
                .mail
                .send(to, "Confirm your email address", body, &link)
                .await
        };
        if let Err(e) = sent.await {
            tracing::warn!(account = %account.id, error = ?e, "sending a verification link failed");
        }
    });
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    pub email: String,
}

/// Ask for a password-reset link by email. Always 202, whether an account has that email or not
/// (so the answer tells nobody which emails have accounts); the link works once, for an hour.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequestBody,
    responses((status = 202), (status = 422, body = ErrorBody)))]
pub async fn password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> StatusCode {
    // In the background: the time of the answer does not depend on the email either.
    tokio::spawn(async move {
        let sent = async {
            let Some((account, token)) = auth::request_reset(&state.db, &body.email).await? else {
                return anyhow::Ok(());
            };
            let link = format!("{}/reset-password?token={token}", state.urls.public);
            let body = format!(
                "Hello {},\n\nSomeone asked to reset the password of your Vitrine account. To \
                 choose a new one, open:\n\n{link}\n\nThe link works once, for an hour; using it \
                 signs you out everywhere else. If it was not you, ignore this message: your \
                 password stays as it is.\n",
                account.display_name
            );
            state
                .mail
                .send(
                    account.email.as_deref().unwrap_or_default(),
                    "Reset your password",
                    body,
                    &link,
                )
                .await
        };
        if let Err(e) = sent.await {
            tracing::warn!(error = ?e, "sending a password-reset link failed");
        }
    });
    StatusCode::ACCEPTED
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmBody {
    /// The token from the link.
    pub token: String,
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: SecretString,
}

/// Set a new password with the link's token: signs in, and ends every other session.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth",
    request_body = ResetConfirmBody,
    responses(
        (status = 200, body = SessionGranted),
        (status = 400, body = ErrorBody, description = "invalid_token: unknown, used or expired"),
        (status = 422, body = ErrorBody, description = "weak_password"),
    ))]
pub async fn password_reset_confirm(
    _: NotCrossSite,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ResetConfirmBody>,
) -> ApiResult<Response> {
    let done = auth::reset_password(
        &state.db,
        &state.sessions,
        &body.token,
        &body.password,
        user_agent(&headers),
    )
    .await;
    let (account, session) = match done {
        Ok(done) => done,
        Err(e @ ResetError::InvalidToken) => {
            return Err(ApiError::bad_request("invalid_token", e.to_string()))
        }
        Err(e @ ResetError::WeakPassword(_)) => {
            return Err(ApiError::invalid("weak_password", e.to_string()))
        }
        Err(ResetError::Db(e)) => return Err(e.into()),
        Err(ResetError::Internal(e)) => return Err(e.into()),
    };
    tracing::info!(account = %account.id, "password reset: every other session ended");
    Ok(granted(&state, StatusCode::OK, &account, session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The token from the link.
    pub token: String,
}

/// Confirm an email address with the link's token.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth",
    request_body = VerifyBody,
    responses(
        (status = 200, body = AccountView),
        (status = 400, body = ErrorBody, description = "invalid_token: unknown, used or expired"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult<Json<AccountView>> {
    let account = auth::verify_email(&state.db, &body.token)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_token",
                "this link is unknown, used or expired: ask for a new one",
            )
        })?;
    Ok(Json((&account).into()))
}

/// Mail a new verification link to your (unverified) email address.
#[utoipa::path(post, path = "/v1/me/verify-email", tag = "accounts",
    security(("session" = []), ("cookie" = [])),
    responses((status = 202), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "already_verified")))]
pub async fn resend_verification(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    caller.session()?;
    let account = caller.person()?;
    if account.email_verified {
        return Err(ApiError::Conflict {
            code: "already_verified",
            message: "this email address is already verified".into(),
        });
    }
    send_verification(&state, account.clone());
    Ok(StatusCode::ACCEPTED)
}
