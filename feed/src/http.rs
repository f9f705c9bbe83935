//! `GET /v1/feed`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use axum::{extract::State, http::StatusCode, Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiQuery, MaybeCaller},
    views::VideoView,
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, VideoId},
    time::now_ms,
    videos::{self, VideoStatus},
};
use vitrine_identity::principal::Scope;

use crate::{
    catalog::{self, ViewerState},
    cursor::Cursor,
    model::{Pool, ScoreTerms, Source},
    ranker::Ranker,
};

pub fn router(ranker: Ranker) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feed))
        .layer(Extension(ranker))
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

/// How the ranker placed an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// Candidate sources that proposed it.
    pub sources: Vec<Source>,
    pub score: ScoreTerms,
    /// Score after the page rules.
    pub adjusted: f64,
    /// Rules that shaped its place (traffic-pool slot, author diversity, fatigue, cadence).
    pub rules: Vec<String>,
    pub stage: i64,
    pub pool: Pool,
    pub impressions: i64,
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
    State(state): State<AppState>,
    Extension(ranker): Extension<Ranker>,
    caller: MaybeCaller,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<FeedPage>> {
    let MaybeCaller(caller) = caller.allow(Scope::VideosRead)?;
    let limit = page_limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let debug = match q.debug.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_debug", "debug is 1 or 0")),
    };
    // An empty cursor is no cursor (the first page), as for every other list.
    let mut cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => Some(Cursor::decode(raw).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one we issued")
        })?),
    };
    if debug && caller.is_none() {
        return Err(ApiError::Unauthorized);
    }
    // Operators, signed in themselves (not through a key), may look at anyone's feed.
    let operator = caller.as_ref().is_some_and(|c| c.operator().is_ok());
    let asked: Option<AccountId> = match &q.viewer {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::bad_request("invalid_viewer", "viewer must be an account id (acc_…)")
        })?),
    };
    let viewer = match (&caller, asked) {
        // Operators see any viewer's feed (support, and `vitrine bench feed`).
        (Some(_), Some(asked)) if operator => {
            if !ranker.viewer_exists(&state.db, &asked).await? {
                return Err(ApiError::NotFound("viewer"));
            }
            Some(asked)
        }
        (Some(me), Some(asked)) if me.is_personal() && &asked == me.id() => Some(asked),
        (_, Some(_)) => return Err(ApiError::status(
            StatusCode::FORBIDDEN,
            "not_your_feed",
            "a feed is personalised only for its own viewer: leave out viewer, or sign in as them",
        )),
        // A shop's key browses like an anonymous viewer: it is nobody's feed.
        (Some(me), None) if me.is_personal() => Some(me.id().clone()),
        (Some(_), None) => None,
        (None, None) => None,
    };

    let now = now_ms();
    let cfg = ranker.config();
    let viewer_state = match &viewer {
        Some(v) => ranker.viewer_state(&state.db, v.as_str(), now).await?,
        None => Arc::new(ViewerState::default()),
    };
    // Spreads traffic-pool clips across viewers: stable per viewer, random when anonymous.
    let cursor = cursor.get_or_insert_with(|| Cursor {
        salt: match &viewer {
            Some(v) => u64::from(catalog::fingerprint(v.as_str())),
            None => rand::random(),
        },
        ..Default::default()
    });
    let served: HashSet<u32> = cursor.served.iter().copied().collect();
    let catalog = ranker.catalog();
    let mut page = cursor.page.clone();
    let picks = catalog::recommend(
        &catalog,
        cfg,
        &viewer_state,
        cursor.salt,
        &served,
        &mut page,
        limit as usize,
        now,
    );

    // The clips as they are now (a clip deleted since the catalog was built is left out).
    let ids: Vec<VideoId> = picks
        .iter()
        .filter_map(|p| catalog.clips[p.scored.clip].id.parse().ok())
        .collect();
    let id_refs: Vec<&VideoId> = ids.iter().collect();
    let mut rows: HashMap<String, _> = videos::get_many(&state.db, &id_refs)
        .await?
        .into_iter()
        .filter(|v| matches!(v.status, VideoStatus::Ready | VideoStatus::Playable))
        .map(|v| (v.id.to_string(), v))
        .collect();
    let mut tags = vitrine_shop::tags::for_videos(
        &state.db,
        &state.urls,
        &id_refs,
        vitrine_shop::tags::Shown::Public,
    )
    .await?;
    let mut items = Vec::with_capacity(picks.len());
    for pick in &picks {
        let clip = &catalog.clips[pick.scored.clip];
        let Some(video) = rows.remove(&clip.id) else {
            continue;
        };
        let explain =
            debug && (operator || caller.as_ref().is_some_and(|c| c.id() == &video.creator_id));
        items.push(FeedItem {
            video: VideoView::new(
                &video,
                tags.remove(video.id.as_str()).unwrap_or_default(),
                &state.urls,
            ),
            debug: explain.then(|| Explanation {
                sources: pick.scored.sources.clone(),
                score: pick.scored.terms,
                adjusted: pick.adjusted,
                rules: pick.rules.clone(),
                stage: clip.stage,
                pool: clip.pool,
                impressions: clip.counts.impressions,
            }),
        });
    }
    let next_cursor = (picks.len() as i64 == limit).then(|| {
        cursor.page = page;
        cursor.served.extend(
            picks
                .iter()
                .map(|p| catalog::fingerprint(&catalog.clips[p.scored.clip].id)),
        );
        cursor.encode()
    });
    Ok(Json(FeedPage { items, next_cursor }))
}
