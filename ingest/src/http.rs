//! Video routes: upload, read, delete.

mod error;

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header::CONTENT_LENGTH, HeaderMap, StatusCode},
    Extension, Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, parse_id, request_media_type, ApiQuery, Caller, MaybeCaller},
    views::{UploadProgress, VideoView},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::VideoId,
    videos::{self, VideoStatus},
};
use vitrine_feed::RankConfig;
use vitrine_identity::principal::Scope;

use crate::{
    spool::spool,
    tus,
    upload::{self, Accepted},
    uploads,
};

pub fn router(state: &AppState, feed: RankConfig) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_video))
        .layer(axum::middleware::map_response(close_after_refusal));
    OpenApiRouter::new()
        .merge(uploads)
        .merge(OpenApiRouter::from(tus::router(state)))
        .routes(routes!(tus::create_direct_upload))
        .routes(routes!(get_video, delete_video))
        .routes(routes!(my_videos))
        .layer(Extension(Arc::new(feed)))
}

/// An upload refused early (bad token, wrong type, too large) leaves most of its body unread on
/// the connection. Saying `Connection: close` tells the client not to reuse it, instead of
/// letting its next request fail on a connection the server is about to drop.
async fn close_after_refusal(mut response: axum::response::Response) -> axum::response::Response {
    if !response.status().is_success() {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Title shown in the feed (default: "Untitled"), at most 200 characters.
    #[param(max_length = 200)]
    pub title: Option<String>,
}

/// Upload a video in one request (creators only). The body is the file's bytes; it is streamed
/// to storage, probed, and queued for transcoding. The same bytes uploaded again by the same
/// creator return the existing video (200) instead of a second one.
#[utoipa::path(post, path = "/v1/videos", tag = "videos",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the video file (video/* or application/octet-stream)"),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses(
        (status = 201, body = VideoView),
        (status = 200, body = VideoView, description = "the creator already uploaded these bytes: that video"),
        (status = 400, body = ErrorBody, description = "empty body"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "not a usable video: the code says why"),
        (status = 429, body = ErrorBody, description = "a quota: too many unfinished uploads, or uploads today (Retry-After)"),
        (status = 507, body = ErrorBody, description = "insufficient_storage: the server is short of disk space"),
    ))]
async fn upload_video(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<VideoView>)> {
    let creator = caller.allow(Scope::VideosWrite)?.creator()?;
    let essence =
        request_media_type(&headers).unwrap_or_else(|| "application/octet-stream".to_owned());
    if !upload::is_video_type(&essence) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the video's bytes with Content-Type video/* or application/octet-stream, not {essence}"
        )));
    }
    let title = upload::title(q.title.as_deref())?;
    let title = title.as_deref().unwrap_or("Untitled");
    let limit = state.limits.max_upload_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the upload is larger than the limit of {limit} bytes"
        )));
    }
    // Counted among the creator's unfinished uploads until this request ends.
    let _slot = crate::quota::check_new_upload(&state, &creator.id, declared).await?;

    let spooled = spool(body.into_data_stream(), &state.limits.spool_dir, limit).await?;
    let (status, id) = match upload::accept(&state, &creator.id, title, spooled).await? {
        Accepted::New(id) => (StatusCode::CREATED, id),
        Accepted::Existing(id) => (StatusCode::OK, id),
    };
    let video = videos::get(&state.db, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("video {id} vanished after insert"))?;
    let tags = vitrine_shop::http::tag_views(
        vitrine_shop::tags::for_video(&state.db, &id, vitrine_shop::tags::Shown::Public).await?,
        &state.urls,
    );
    Ok((status, Json(VideoView::new(&video, tags, &state.urls))))
}

/// A video: status, progress, playback URLs once ready, and its product tags.
#[utoipa::path(get, path = "/v1/videos/{id}",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["videos:read"])), tag = "videos",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    responses((status = 200, body = VideoView), (status = 404, body = ErrorBody)))]
async fn get_video(
    State(state): State<AppState>,
    Extension(feed): Extension<Arc<RankConfig>>,
    caller: MaybeCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<VideoView>> {
    let MaybeCaller(caller) = caller.allow(Scope::VideosRead)?;
    let mut id: VideoId = parse_id(&id, "video")?;
    let mut video = videos::get(&state.db, &id).await?;
    if video.is_none() {
        // A resumable upload's video that turned out to be a copy of an existing one.
        if let Some(existing) = uploads::resolve_alias(&state.db, &id).await? {
            id = existing;
            video = videos::get(&state.db, &id).await?;
        }
    }
    let video = video.ok_or(ApiError::NotFound("video"))?;
    let tags = vitrine_shop::http::tag_views(
        vitrine_shop::tags::for_video(&state.db, &id, vitrine_shop::tags::Shown::Public).await?,
        &state.urls,
    );
    let mut view = VideoView::new(&video, tags, &state.urls);
    if video.status == VideoStatus::Uploading {
        if let Some(upload) = uploads::for_video(&state.db, &id).await? {
            view.upload = Some(UploadProgress {
                offset: upload.offset,
                length: upload.length,
            });
        }
    }
    if caller.is_some_and(|c| c.is_personal() && c.id() == &video.creator_id) {
        view.distribution = Some(vitrine_feed::http::distribution_view(
            vitrine_feed::store::distribution(&state.db, &feed, id.as_str()).await?,
        ));
    }
    Ok(Json(view))
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

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
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
    State(state): State<AppState>,
    Extension(feed): Extension<Arc<RankConfig>>,
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
                ApiError::bad_request("invalid_cursor", "cursor is not a next_cursor of this list")
            })
        })
        .transpose()?;
    // One more than asked: whether a next page exists, without a last, empty one.
    let mut page =
        videos::list_by_creator(&state.db, &creator.id, cursor.as_ref(), limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let mut items = Vec::with_capacity(page.len());
    for video in &page {
        let tags = vitrine_shop::http::tag_views(
            vitrine_shop::tags::for_video(&state.db, &video.id, vitrine_shop::tags::Shown::All)
                .await?,
            &state.urls,
        );
        let mut view = VideoView::new(video, tags, &state.urls);
        if video.status == VideoStatus::Uploading {
            if let Some(upload) = uploads::for_video(&state.db, &video.id).await? {
                view.upload = Some(UploadProgress {
                    offset: upload.offset,
                    length: upload.length,
                });
            }
        }
        view.distribution = Some(vitrine_feed::http::distribution_view(
            vitrine_feed::store::distribution(&state.db, &feed, video.id.as_str()).await?,
        ));
        items.push(view);
    }
    let next_cursor = more
        .then(|| page.last().map(|v| v.id.to_string()))
        .flatten();
    Ok(Json(MyVideosPage { items, next_cursor }))
}

/// Delete a video and every object it produced (its creator only): it is gone at once (its
/// media answer 404), its files are removed in the background within a few minutes.
#[utoipa::path(delete, path = "/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_video(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.allow(Scope::VideosWrite)?.personal()?;
    let id: VideoId = parse_id(&id, "video")?;
    let video = videos::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    if &video.creator_id != caller.id() {
        return Err(ApiError::forbidden(
            "only the video's creator can delete it",
        ));
    }
    // The row goes now (its media answer 404 from here on, its job stops); the objects go in
    // the background once any worker still writing them has stopped (`gc`).
    videos::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
