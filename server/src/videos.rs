//! The video object's read routes (`GET /v1/videos/{id}`, `GET /v1/creators/me/videos`): where a
//! clip's own row (`core::videos`), its product tags (`shop`), its resumable upload's progress
//! (`ingest`) and its standing in the traffic pools (`feed`) meet, so none of those crates has
//! to depend on the others to show it. Uploading and deleting stay in `ingest`.

use std::sync::Arc;

use axum::{
    extract::{FromRef, State},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiQuery, Caller, Id, MaybeCaller},
    views::{UploadProgress, VideoView},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::VideoId,
    videos::{self, Video, VideoStatus},
};
use vitrine_feed::RankConfig;
use vitrine_identity::principal::Scope;
use vitrine_ingest::uploads;
use vitrine_shop::tags::{self, Shown};

/// What these routes need: the application's state and the ranker's settings (a clip's stage
/// boundaries).
#[derive(Clone)]
pub struct VideosState {
    pub app: AppState,
    pub feed: Arc<RankConfig>,
}

impl FromRef<VideosState> for AppState {
    fn from_ref(state: &VideosState) -> AppState {
        state.app.clone()
    }
}

pub fn router<S>(app: AppState, feed: RankConfig) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(get_video))
        .routes(routes!(my_videos))
        .with_state(VideosState {
            app,
            feed: Arc::new(feed),
        })
}

/// The video object: playback, tags, upload progress while uploading, and — for its creator —
/// its standing in the traffic pools (`standing`).
async fn video_view(
    state: &VideosState,
    video: &Video,
    tags_shown: Shown,
    standing: bool,
) -> ApiResult<VideoView> {
    let app = &state.app;
    let tags = vitrine_shop::http::tag_views(
        tags::for_video(&app.db, &video.id, tags_shown).await?,
        &app.urls,
    );
    let mut view = VideoView::new(video, tags, &app.urls);
    if video.status == VideoStatus::Uploading {
        if let Some(upload) = uploads::for_video(&app.db, &video.id).await? {
            view.upload = Some(UploadProgress {
                offset: upload.offset,
                length: upload.length,
            });
        }
    }
    if standing {
        view.distribution = Some(vitrine_feed::http::distribution_view(
            vitrine_feed::store::distribution(&app.db, &state.feed, video.id.as_str()).await?,
        ));
    }
    Ok(view)
}

/// A video: status, progress, playback URLs once ready, and its product tags.
#[utoipa::path(get, path = "/v1/videos/{id}",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["videos:read"])), tag = "videos",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    responses((status = 200, body = VideoView), (status = 404, body = ErrorBody)))]
async fn get_video(
    State(state): State<VideosState>,
    caller: MaybeCaller,
    Id(mut id): Id<VideoId>,
) -> ApiResult<Json<VideoView>> {
    let MaybeCaller(caller) = caller.allow(Scope::VideosRead)?;
    let db = &state.app.db;
    let mut video = videos::get(db, &id).await?;
    if video.is_none() {
        // A resumable upload's video that turned out to be a copy of an existing one.
        if let Some(existing) = uploads::resolve_alias(db, &id).await? {
            id = existing;
            video = videos::get(db, &id).await?;
        }
    }
    let video = video.ok_or(ApiError::NotFound("video"))?;
    // The object shows the tags viewers see, whoever asks; its creator (acting as themselves)
    // also sees the clip's standing in the pools.
    let standing = caller.is_some_and(|c| c.is_personal() && c.id() == &video.creator_id);
    Ok(Json(
        video_view(&state, &video, Shown::Public, standing).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyVideosQuery {
    /// Items per page, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyVideosPage {
    pub items: Vec<VideoView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Your videos, newest first, whatever their state, with every product tag (pending ones
/// included) and each clip's traffic-pool stage (creators only).
#[utoipa::path(get, path = "/v1/creators/me/videos", tag = "videos",
    params(MyVideosQuery),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:read"])),
    responses(
        (status = 200, body = MyVideosPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
async fn my_videos(
    State(state): State<VideosState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MyVideosQuery>,
) -> ApiResult<Json<MyVideosPage>> {
    let creator = caller.allow(Scope::VideosRead)?.creator()?;
    let limit = page_limit(q.limit, 20, 100)?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<VideoId>().map_err(|_| {
                ApiError::bad_request(
                    vitrine_api::codes::INVALID_CURSOR,
                    "cursor is not a next_cursor of this list",
                )
            })
        })
        .transpose()?;
    // One more than asked: whether a next page exists, without a last, empty one.
    let mut page =
        videos::list_by_creator(&state.app.db, &creator.id, cursor.as_ref(), limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let mut items = Vec::with_capacity(page.len());
    for video in &page {
        items.push(video_view(&state, video, Shown::All, true).await?);
    }
    let next_cursor = more
        .then(|| page.last().map(|v| v.id.to_string()))
        .flatten();
    Ok(Json(MyVideosPage { items, next_cursor }))
}
