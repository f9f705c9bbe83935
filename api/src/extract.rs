//! Extractors that turn requests into trusted values — or into our error format — once, not in
//! every handler.

use axum::{
    extract::{
        rejection::JsonRejection, rejection::QueryRejection, FromRef, FromRequest,
        FromRequestParts, Path,
    },
    http::{
        header::{AUTHORIZATION, CONTENT_TYPE, COOKIE},
        request::Parts,
        HeaderMap, Method, StatusCode,
    },
};
use serde::de::DeserializeOwned;
use vitrine_core::ids::{
    AccountId, ApiKeyId, ImageId, OrderId, ProductId, SessionId, ShopId, TagId, VariantId, VideoId,
};
use vitrine_identity::{
    accounts::Account,
    principal::{Credential, Principal, Scope},
    shops::{self, MemberRole},
};

use crate::{codes, error::ApiError, state::AppState};

/// The cookie the web pages' session rides in (`HttpOnly; SameSite=Lax`).
pub const SESSION_COOKIE: &str = "vitrine_session";

/// The authenticated caller: `Authorization: Bearer` with a session token or an API key, or the
/// pages' session cookie. 401 without one, or when it ended (`session_expired`), was revoked
/// (`key_revoked`) or its account is suspended (`account_suspended`).
///
/// This is the only way a route learns who is asking (`MaybeCaller` for routes anyone may
/// call): each handler then asks for what it needs (`allow` a scope, a `person`, a `creator`, an
/// `operator`, a shop through `shops::acting_for`).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn id(&self) -> &AccountId {
        &self.0.account.id
    }

    pub fn account(&self) -> &Account {
        &self.0.account
    }

    /// 403 `insufficient_scope` for an API key without `scope` (sessions have every scope).
    pub fn allow(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.0.allows(scope) {
            Ok(self)
        } else {
            Err(ApiError::status(
                StatusCode::FORBIDDEN,
                codes::INSUFFICIENT_SCOPE,
                format!("this API key does not have the {scope} scope"),
            ))
        }
    }

    /// The caller's session: 403 `session_required` for an API key (routes that manage the
    /// account itself, its sessions and its keys).
    pub fn session(&self) -> Result<&SessionId, ApiError> {
        self.0.session().ok_or_else(|| {
            ApiError::status(
                StatusCode::FORBIDDEN,
                codes::SESSION_REQUIRED,
                "API keys cannot do this: sign in",
            )
        })
    }

    /// The caller acting as themselves (a viewer, a buyer, a creator): any session or personal
    /// key, but not a shop's key — a key made for a shop acts for the shop only (403
    /// `shop_key`), never as the person who made it.
    pub fn personal(&self) -> Result<&Account, ApiError> {
        match &self.0.credential {
            Credential::ApiKey { shop: Some(_), .. } => Err(ApiError::status(
                StatusCode::FORBIDDEN,
                codes::SHOP_KEY,
                "this API key acts for a shop, not for the person who made it",
            )),
            _ => Ok(&self.0.account),
        }
    }

    /// Whether the caller acts as themselves (see `personal`).
    pub fn is_personal(&self) -> bool {
        self.personal().is_ok()
    }

    /// A person who signed up, acting as themselves: 403 `sign_up_required` for an anonymous
    /// viewer, `shop_key` for a shop's key.
    pub fn person(&self) -> Result<&Account, ApiError> {
        self.personal()?;
        if self.0.account.anonymous {
            Err(ApiError::status(
                StatusCode::FORBIDDEN,
                codes::SIGN_UP_REQUIRED,
                "sign up (POST /v1/auth/signup) to do this",
            ))
        } else {
            Ok(&self.0.account)
        }
    }

    /// An account with creator capabilities: 403 `not_a_creator` otherwise.
    pub fn creator(&self) -> Result<&Account, ApiError> {
        let account = self.person()?;
        if account.is_creator() {
            Ok(account)
        } else {
            Err(ApiError::status(
                StatusCode::FORBIDDEN,
                codes::NOT_A_CREATOR,
                "turn on creator capabilities first (POST /v1/me/creator with a handle)",
            ))
        }
    }

    /// An operator, signed in with a session: 403 `not_an_operator` otherwise.
    pub fn operator(&self) -> Result<&Account, ApiError> {
        self.session()?;
        if self.0.account.is_operator() {
            Ok(&self.0.account)
        } else {
            Err(ApiError::status(
                StatusCode::FORBIDDEN,
                codes::NOT_AN_OPERATOR,
                "this needs an operator account",
            ))
        }
    }

    /// The shop the caller acts for (`asked`, else their API key's, else their only one) and
    /// their role there.
    pub async fn shop(
        &self,
        state: &AppState,
        asked: Option<&ShopId>,
    ) -> Result<(ShopId, MemberRole), ApiError> {
        Ok(shops::acting_for(&state.db, &self.0, asked).await?)
    }

    /// Whether the caller may act for `shop`.
    pub async fn acts_for(&self, state: &AppState, shop: &ShopId) -> Result<bool, ApiError> {
        Ok(shops::may_act_for(&state.db, &self.0, shop).await?)
    }
}

/// The client's address: the peer's, or the one a trusted proxy forwarded (set by the server's
/// admission layer; the peer's own address where that layer did not run).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(addr) = parts.extensions.get::<ClientAddr>() {
            return Ok(*addr);
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(peer))
    }
}

/// Resolved once per request (several extractors may ask).
#[derive(Clone)]
struct Resolved(Option<Caller>);

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        MaybeCaller::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(ApiError::Unauthorized)
    }
}

/// A caller who may be signed in: `None` without credentials; 401 with bad ones (a bad token
/// is never taken for an anonymous request).
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl MaybeCaller {
    /// 403 `insufficient_scope` for an API key without `scope`; anonymous callers and sessions
    /// pass (the routes that take `MaybeCaller` are open to anyone).
    pub fn allow(self, scope: Scope) -> Result<Self, ApiError> {
        if let Some(caller) = &self.0 {
            caller.allow(scope)?;
        }
        Ok(self)
    }
}

impl<S> FromRequestParts<S> for MaybeCaller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = &AppState::from_ref(state);
        if let Some(Resolved(caller)) = parts.extensions.get::<Resolved>() {
            return Ok(MaybeCaller(caller.clone()));
        }
        let caller = match credential(parts)? {
            None => None,
            Some((token, from_cookie)) => {
                if from_cookie {
                    same_origin(parts, &state.urls.public)?;
                }
                let principal = state
                    .callers
                    .authenticate(&state.db, &state.sessions, &token)
                    .await?;
                Some(Caller(principal))
            }
        };
        parts.extensions.insert(Resolved(caller.clone()));
        Ok(MaybeCaller(caller))
    }
}

/// The caller, if the request carries credentials that still work; otherwise — none, expired,
/// revoked, suspended, or a cookie from another site — `None`. Only for the routes that start a
/// session or prove an email (signing up or in, anonymous viewers, password reset): a browser
/// whose session ended must still be able to sign in again.
#[derive(Debug, Clone)]
pub struct CallerIfValid(pub Option<Caller>);

impl<S> FromRequestParts<S> for CallerIfValid
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match MaybeCaller::from_request_parts(parts, state).await {
            Ok(MaybeCaller(caller)) => Ok(CallerIfValid(caller)),
            Err(ApiError::Internal(e)) => Err(ApiError::Internal(e)),
            Err(_) => Ok(CallerIfValid(None)),
        }
    }
}

/// The token a request carries, and whether it came from the session cookie. An
/// `Authorization` header wins over the cookie; one that is not `Bearer …` is a 401.
fn credential(parts: &Parts) -> Result<Option<(String, bool)>, ApiError> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Some((token.to_owned(), false)));
    }
    Ok(session_cookie(&parts.headers).map(|t| (t, true)))
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// CSRF defence for cookie-authenticated requests (OWASP's "verify the origin"): a request that
/// changes something must come from a page of ours — its `Origin` is our public origin or the
/// host it was sent to; without `Origin`, `Sec-Fetch-Site` must say same-origin. Safe methods
/// pass (they change nothing, and `SameSite=Lax` already keeps the cookie off cross-site
/// subresource requests).
fn same_origin(parts: &Parts, public: &str) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    match from_our_site(parts, public) {
        Some(true) => Ok(()),
        _ => Err(cross_site()),
    }
}

fn cross_site() -> ApiError {
    ApiError::status(
        StatusCode::FORBIDDEN,
        codes::CROSS_SITE_REQUEST,
        "a request signed in with the session cookie must come from this site's pages",
    )
}

/// Whether the browser says the request comes from one of our pages: `Some(true)` or
/// `Some(false)` from `Origin` (else `Sec-Fetch-Site`), `None` when it says nothing (not a
/// browser).
fn from_our_site(parts: &Parts, public: &str) -> Option<bool> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, a)| a);
            let host = header("host");
            Some(
                origin == public.trim_end_matches('/')
                    || (authority.is_some() && authority == host),
            )
        }
        None => header("sec-fetch-site").map(|site| site == "same-origin" || site == "none"),
    }
}

/// For the routes that start a session (sign up, sign in, anonymous viewers, password reset):
/// a browser request from another site is refused (403 `cross_site_request`), so no page
/// elsewhere can sign a visitor in or out behind their back. Requests that are not from a
/// browser (no `Origin`, no `Sec-Fetch-Site`) pass: apps and scripts.
pub struct NotCrossSite;

impl<S> FromRequestParts<S> for NotCrossSite
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = &AppState::from_ref(state);
        match from_our_site(parts, &state.urls.public) {
            Some(false) => Err(cross_site()),
            _ => Ok(NotCrossSite),
        }
    }
}

/// `Json<T>` whose rejections use our error format: 400 for malformed JSON, 413 for a body
/// over the limit, 415 for a missing content type, 422 for JSON of the wrong shape or text with
/// a NUL character (which PostgreSQL cannot store, so neither database gets it).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(e.body_text()),
                _ => ApiError::bad_request(codes::UNREADABLE_BODY, e.body_text()),
            })?;
        let value = match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => v,
            Err(JsonRejection::JsonDataError(e)) => match with_integral_floats(&bytes) {
                // `5.0` is the integer 5 in JSON (and JSON Schema): some clients write it so.
                Some(v) => v,
                None => return Err(ApiError::invalid(codes::INVALID_BODY, e.body_text())),
            },
            Err(e) => return Err(ApiError::bad_request(codes::MALFORMED_JSON, e.body_text())),
        };
        if json_has_nul(&bytes) {
            return Err(nul_refused());
        }
        Ok(ApiJson(value))
    }
}

/// The body read again with every number that is a whole float (`5.0`) turned into an integer,
/// if that makes it a `T`. Only tried when reading it as it is failed.
fn with_integral_floats<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    fn integral(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let whole = f.fract() == 0.0 && f.abs() < 9.0e15;
                if whole {
                    *value = serde_json::Value::from(f as i64);
                }
                whole
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |a, v| integral(v) | a),
            serde_json::Value::Object(fields) => {
                fields.values_mut().fold(false, |a, v| integral(v) | a)
            }
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(json).ok()?;
    if !integral(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// `application/json` or any `…+json` type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(media_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON document has a string (or key) with a NUL character. JSON can only spell one
/// as the escape `\u0000`, so the bytes are searched for that first and parsed only when found.
pub fn json_has_nul(json: &[u8]) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(walk),
            serde_json::Value::Object(fields) => {
                fields.iter().any(|(k, v)| k.contains('\0') || walk(v))
            }
            _ => false,
        }
    }
    json.windows(6).any(|w| w == b"\\u0000")
        && serde_json::from_slice::<serde_json::Value>(json).is_ok_and(|v| walk(&v))
}

/// Text with a NUL character: no database column stores it the same way.
pub fn nul_refused() -> ApiError {
    ApiError::invalid(
        codes::INVALID_TEXT,
        "text must not contain NUL (U+0000) characters",
    )
}

/// `Query<T>` with our error format (400; 422 for text with a NUL character).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let value = match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => v,
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                return Err(ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))
            }
            Err(e) => return Err(ApiError::bad_request(codes::INVALID_QUERY, e.body_text())),
        };
        let query = parts.uri.query().unwrap_or_default();
        if query.contains("%00") && query_has_nul(query) {
            return Err(nul_refused());
        }
        Ok(ApiQuery(value))
    }
}

fn query_has_nul(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

/// A list's `?limit=`: `default` when absent, else 1..=`max` or 400 `invalid_limit`.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            codes::INVALID_LIMIT,
            format!("limit must be between 1 and {max}"),
        ))
    }
}

/// Parses a path segment into a typed id; an id of the wrong shape cannot name anything, so it
/// is a 404, like an unknown one.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(what))
}

/// An id a route's path may carry, and what a client calls the thing it names (the 404 of a
/// malformed one says `{WHAT} not found`, like an unknown one's).
pub trait PathId: std::str::FromStr {
    const WHAT: &'static str;
}

macro_rules! path_ids {
    ($($id:ty => $what:literal),* $(,)?) => {$(
        impl PathId for $id {
            const WHAT: &'static str = $what;
        }
    )*};
}

path_ids!(
    AccountId => "account",
    ApiKeyId => "API key",
    ImageId => "image",
    OrderId => "order",
    ProductId => "product",
    SessionId => "session",
    ShopId => "shop",
    TagId => "tag",
    VariantId => "variant",
    VideoId => "video",
);

/// A typed id from a path with one parameter (`/v1/orders/{id}` → `Id<OrderId>`), parsed once
/// here: a malformed one is 404, like an unknown one.
#[derive(Debug, Clone)]
pub struct Id<T>(pub T);

impl<S, T> FromRequestParts<S> for Id<T>
where
    S: Send + Sync,
    T: PathId + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound(T::WHAT))?;
        parse_id(&raw, T::WHAT).map(Id)
    }
}

/// Two typed ids from a path with two parameters (`/v1/videos/{id}/tags/{tag_id}` →
/// `Ids<VideoId, TagId>`), in the path's order; the first malformed one is the 404.
#[derive(Debug, Clone)]
pub struct Ids<A, B>(pub A, pub B);

impl<S, A, B> FromRequestParts<S> for Ids<A, B>
where
    S: Send + Sync,
    A: PathId + Send,
    B: PathId + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound(A::WHAT))?;
        Ok(Ids(parse_id(&a, A::WHAT)?, parse_id(&b, B::WHAT)?))
    }
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
