//! `GET /v1/feed`.

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody, extract::ApiQuery, views::VideoView, ApiError, ApiResult, AppState,
};
use vitrine_core::{accounts, ids::AccountId, videos};

use crate::cursor::Cursor;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
}

const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    /// The viewer's account id (acc_…); optional for anonymous browsing.
    pub viewer: Option<String>,
    /// Items per page, 1..=50 (default 10).
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub items: Vec<VideoView>,
    /// Pass as `cursor` to get the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// The feed: ready videos, newest first, each with its live product tags.
#[utoipa::path(get, path = "/v1/feed", tag = "feed",
    params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn feed(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<FeedPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if let Some(viewer) = &q.viewer {
        let viewer: AccountId = viewer.parse().map_err(|_| {
            ApiError::bad_request("invalid_viewer", "viewer must be an account id (acc_…)")
        })?;
        if !accounts::exists(&state.db, &viewer).await? {
            return Err(ApiError::NotFound("viewer"));
        }
    }
    let after = match &q.cursor {
        None => None,
        Some(raw) => Some(Cursor::decode(raw).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one we issued")
        })?),
    };

    let page = videos::list_ready(
        &state.db,
        after.as_ref().map(|c| (c.ready_at, &c.id)),
        limit + 1,
    )
    .await?;
    let has_more = page.len() as i64 > limit;
    let page = &page[..page.len().min(limit as usize)];
    let ids: Vec<_> = page.iter().map(|v| &v.id).collect();
    let mut tags = vitrine_shop::tags::for_videos(
        &state.db,
        &state.urls,
        &ids,
        vitrine_shop::tags::Shown::Public,
    )
    .await?;
    let next_cursor = match page.last() {
        Some(last) if has_more => Some(
            Cursor {
                ready_at: last.ready_at.unwrap_or_default(),
                id: last.id.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    let items = page
        .iter()
        .map(|v| {
            VideoView::new(
                v,
                tags.remove(v.id.as_str()).unwrap_or_default(),
                &state.urls,
            )
        })
        .collect();
    Ok(Json(FeedPage { items, next_cursor }))
}
