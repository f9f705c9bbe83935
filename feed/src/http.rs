//! `GET /v1/feed`.

use axum::{
    extract::{FromRef, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiJson, ApiQuery, Caller, MaybeCaller},
    rate::{Budget, Client},
    state::Urls,
    views::{Distribution, VideoView},
    ApiError, ApiResult, AppState,
};
use vitrine_identity::principal::Scope;

use crate::{
    codes,
    events::{ingest, EventBatch, EventsResult, IngestError, MAX_BATCH},
    page::{Explanation, Page, PageError, PageRequest, Reader},
    ranker::Ranker,
    showcase::Shown,
    store::Standing,
};

/// What the feed's routes need: the application's state and the ranker (its catalog and
/// caches).
#[derive(Clone)]
pub struct FeedState {
    pub app: AppState,
    pub ranker: Ranker,
}

impl FromRef<FeedState> for AppState {
    fn from_ref(state: &FeedState) -> AppState {
        state.app.clone()
    }
}

/// The public view of a clip's place in the traffic pools.
pub fn distribution_view(standing: Standing) -> Distribution {
    Distribution {
        stage: standing.stage,
        pool: standing.pool.as_str().to_owned(),
        impressions: standing.impressions,
        stage_ends_at: standing.stage_ends_at,
    }
}

/// `GET /v1/feed` and `POST /v1/events`.
pub fn router<S>(app: AppState, ranker: Ranker) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(feed))
        .routes(routes!(post_events))
        .with_state(FeedState { app, ranker })
}

const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Your own account id (acc_…), or leave it out: the feed is the caller's. Naming another
    /// account is 403 `not_your_feed`, except for operators, who may see any viewer's feed.
    pub viewer: Option<String>,
    /// Items per page, 1..=50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// `1`: explain each item (its candidate sources, score terms and applied rules) — for the
    /// items' creator, or for all items to operators.
    #[param(pattern = "^(0|1|true|false)$")]
    pub debug: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItem {
    #[serde(flatten)]
    pub video: VideoView,
    /// With `?debug=1`: why this item is here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug: Option<Explanation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    /// Pass as `cursor` to get the next page (never repeating an item); null at the end.
    pub next_cursor: Option<String>,
}

/// The feed: clips ranked for the viewer (Douyin-style: predicted actions × value, commerce
/// value, freshness, traffic pools, diversity and fatigue rules), each with its live product
/// tags.
#[utoipa::path(get, path = "/v1/feed",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["videos:read"])), tag = "feed",
    params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn feed(
    State(state): State<FeedState>,
    caller: MaybeCaller,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Response> {
    let MaybeCaller(caller) = caller.allow(Scope::VideosRead)?;
    let limit = page_limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let explain = match q.debug.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_DEBUG,
                "debug is 1 or 0",
            ))
        }
    };
    let viewer = match &q.viewer {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::bad_request(
                codes::INVALID_VIEWER,
                "viewer must be an account id (acc_…)",
            )
        })?),
    };
    let reader = match &caller {
        None => Reader::Anonymous,
        Some(c) if c.is_personal() => Reader::Person {
            id: c.id().clone(),
            operator: c.operator().is_ok(),
        },
        Some(c) => Reader::Shop {
            account: c.id().clone(),
        },
    };
    let request = PageRequest {
        viewer,
        limit: limit as usize,
        cursor: q.cursor,
        explain,
    };
    let app = &state.app;
    let page = state.ranker.page(&app.db, &reader, request).await?;
    Ok(render(page, &app.urls))
}

/// A page as `FeedPage` JSON. Each clip's view is serialised once per showcase entry and
/// reused by every page that shows it; only explained items are serialised per request.
fn render(page: Page, urls: &Urls) -> Response {
    let view = |shown: &Shown| {
        VideoView::new(
            &shown.video,
            vitrine_shop::http::tag_views(shown.tags.clone(), urls),
            urls,
        )
    };
    let mut body = Vec::with_capacity(1024 + page.items.len() * 2048);
    body.extend_from_slice(b"{\"items\":[");
    for (n, item) in page.items.into_iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let shown = &item.shown;
        match item.explanation {
            None => body.extend_from_slice(shown.rendered.get_or_init(|| {
                serde_json::to_vec(&view(shown))
                    .expect("a view serialises")
                    .into()
            })),
            Some(debug) => serde_json::to_writer(
                &mut body,
                &FeedItem {
                    video: view(shown),
                    debug: Some(debug),
                },
            )
            .expect("a view serialises"),
        }
    }
    body.extend_from_slice(b"],\"next_cursor\":");
    serde_json::to_writer(&mut body, &page.next_cursor).expect("a cursor serialises");
    body.push(b'}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::InvalidCursor => ApiError::bad_request(e.code(), e.to_string()),
            PageError::NotYourFeed => {
                ApiError::status(StatusCode::FORBIDDEN, e.code(), e.to_string())
            }
            PageError::UnknownViewer => ApiError::NotFound("viewer"),
            PageError::SignInToExplain => ApiError::Unauthorized,
            PageError::Database(e) => e.into(),
            PageError::Internal(e) => e.into(),
        }
    }
}

/// Record viewer events (batch). Unknown types, unknown videos and malformed events are
/// reported per item; the others are accepted.
#[utoipa::path(post, path = "/v1/events", tag = "feed",
    request_body = EventBatch,
    security(("session" = []), ("cookie" = []), ("api_key" = ["events:write"])),
    responses(
        (status = 200, body = EventsResult),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited: too many events from this viewer (Retry-After)"),
    ))]
async fn post_events(
    State(FeedState { app: state, ranker }): State<FeedState>,
    caller: Caller,
    ApiJson(batch): ApiJson<EventBatch>,
) -> ApiResult<Response> {
    caller.allow(Scope::EventsWrite)?.personal()?;
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            codes::TOO_MANY_EVENTS,
            format!("send at most {MAX_BATCH} events per request"),
        ));
    }
    // Each event spends one unit of the viewer's budget, whatever the batching.
    let cost = u32::try_from(batch.events.len()).unwrap_or(u32::MAX);
    let charge = state.rate.charge(
        Budget::EventItems,
        &Client::Account(caller.id().clone()),
        cost,
    );
    if let Some(refused) = charge.filter(|c| !c.allowed) {
        return Ok(refused.refusal());
    }
    Ok(Json(ingest(&state.db, &ranker, caller.id(), batch.events).await?).into_response())
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Gone(e) | IngestError::Database(e) => e.into(),
        }
    }
}
