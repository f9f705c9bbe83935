//! Video routes: upload and delete (reading the video object is the server crate's `videos`,
//! where its tags and its standing in the feed meet).

mod error;

use axum::{
    body::Body,
    extract::State,
    http::{header::CONTENT_LENGTH, HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{request_media_type, ApiQuery, Caller, Id},
    views::VideoView,
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::VideoId,
    videos::{self},
};
use vitrine_identity::principal::Scope;

use crate::{
    spool::spool,
    tus,
    upload::{self, Accepted},
};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_video))
        .layer(axum::middleware::map_response(close_after_refusal));
    OpenApiRouter::new()
        .merge(uploads)
        .merge(OpenApiRouter::from(tus::router(state)))
        .routes(routes!(tus::create_direct_upload))
        .routes(routes!(delete_video))
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

/// Delete a video and every object it produced (its creator only): it is gone at once (its
/// media answer 404), its files are removed in the background within a few minutes.
#[utoipa::path(delete, path = "/v1/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_video(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<VideoId>,
) -> ApiResult<StatusCode> {
    caller.allow(Scope::VideosWrite)?.personal()?;
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
