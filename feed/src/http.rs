//! `GET /v1/feed`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use axum::{extract::State, http::HeaderMap, Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiQuery},
    views::VideoView,
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    accounts::{self, Account},
    ids::{AccountId, VideoId},
    time::now_ms,
    videos::{self, VideoStatus},
};

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
pub struct FeedQuery {
    /// The viewer's account id (acc_…) when not signed in with a token; optional for anonymous
    /// browsing. Signed-in callers get their own feed.
    pub viewer: Option<String>,
    /// Items per page, 1..=50 (default 10).
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// `1`: explain each item (its candidate sources, score terms and applied rules) — for the
    /// items' creator, or for all items with the admin token.
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

/// Who is asking: the signed-in account, or the operators' admin token.
enum Caller {
    Anonymous,
    Account(Account),
    Admin,
}

async fn caller(state: &AppState, ranker: &Ranker, headers: &HeaderMap) -> ApiResult<Caller> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    if ranker.is_admin(token) {
        return Ok(Caller::Admin);
    }
    accounts::authenticate(&state.db, token)
        .await?
        .map(Caller::Account)
        .ok_or(ApiError::Unauthorized)
}

/// The feed: clips ranked for the viewer (Douyin-style: predicted actions × value, commerce
/// value, freshness, traffic pools, diversity and fatigue rules), each with its live product
/// tags.
#[utoipa::path(get, path = "/v1/feed", tag = "feed",
    params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn feed(
    State(state): State<AppState>,
    Extension(ranker): Extension<Ranker>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<FeedPage>> {
    let limit = page_limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let debug = match q.debug.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_debug", "debug is 1 or 0")),
    };
    let mut cursor = match &q.cursor {
        None => None,
        Some(raw) => Some(Cursor::decode(raw).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one we issued")
        })?),
    };
    let caller = caller(&state, &ranker, &headers).await?;
    if debug && matches!(caller, Caller::Anonymous) {
        return Err(ApiError::Unauthorized);
    }
    let asked: Option<AccountId> = match &q.viewer {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::bad_request("invalid_viewer", "viewer must be an account id (acc_…)")
        })?),
    };
    let viewer = match (&caller, asked) {
        (Caller::Account(me), Some(asked)) if asked != me.id => {
            return Err(ApiError::forbidden(
                "viewer must be the signed-in account (or leave it out)",
            ))
        }
        (Caller::Account(me), _) => Some(me.id.clone()),
        (_, Some(asked)) => {
            if !ranker.viewer_exists(&state.db, &asked).await? {
                return Err(ApiError::NotFound("viewer"));
            }
            Some(asked)
        }
        (_, None) => None,
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
        let explain = match &caller {
            Caller::Admin => debug,
            Caller::Account(me) => debug && me.id == video.creator_id,
            Caller::Anonymous => false,
        };
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
