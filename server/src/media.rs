//! `/media/{key}`: public objects (renditions, product images) served over HTTP with `Range`
//! support.
//!
//! The filesystem store is served by tower-http's `ServeDir` (ranges, conditional requests,
//! content types). The S3 store is proxied with the range passed through, so HLS playlists keep
//! working with relative segment URLs; deployments that put a CDN in front of the bucket set
//! `VITRINE_MEDIA_URL` and bypass this route.
//!
//! Caching: every object under a video's attempt prefix is written once, but a video can be
//! deleted, so its objects are cached for an hour (a deleted clip leaves shared caches within
//! that); product images are immutable; playlists (a `playable` video's lowest rung grows, and
//! the master playlist is replaced when the video becomes `ready`) must be revalidated.
//!
//! A deleted video's objects answer 404 at once, although they are removed from the store only
//! later (`vitrine_ingest::gc`): each request asks whether its video still exists (the answer is
//! kept for a few seconds).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_http::services::ServeDir;
use vitrine_api::{ApiError, AppState};
use vitrine_assets::{content_type_for, ByteRange, StoreError};
use vitrine_transcode::hls::{self, ProductRange};

/// Only published renditions and product images are public. Originals (the creator's raw file,
/// with whatever its metadata holds, e.g. a phone's location) never are.
const PUBLIC_PREFIXES: [&str; 2] = ["videos", "products"];

pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for prefix in PUBLIC_PREFIXES {
        let mount = format!("/media/{prefix}");
        router = match state.store.local_root() {
            Some(root) => router.nest_service(&mount, ServeDir::new(root.join(prefix))),
            None => router.route(&format!("{mount}/{{*key}}"), get(proxy)),
        };
    }
    router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            product_ranges,
        ))
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::from_fn_with_state(
            (state.clone(), Arc::new(Presence::default())),
            only_existing_videos,
        ))
}

/// Whether videos exist, as found in the last few seconds.
#[derive(Default)]
struct Presence(Mutex<HashMap<String, (bool, Instant)>>);

impl Presence {
    /// How long an answer is kept.
    const TTL: Duration = Duration::from_secs(5);
    /// Answers kept at most (the map is emptied when full: the cost is a query each).
    const CAPACITY: usize = 50_000;

    async fn exists(&self, db: &vitrine_core::db::Db, video: &str) -> Result<bool, ApiError> {
        if let Some(&(exists, at)) = self.0.lock().unwrap().get(video) {
            if at.elapsed() < Self::TTL {
                return Ok(exists);
            }
        }
        let exists = vitrine_core::videos::existing(db, &[video.to_owned()])
            .await?
            .contains(video);
        let mut known = self.0.lock().unwrap();
        if known.len() >= Self::CAPACITY {
            known.clear();
        }
        known.insert(video.to_owned(), (exists, Instant::now()));
        Ok(exists)
    }
}

/// 404 for the objects of a video that no longer exists (deleted, its files not yet collected).
async fn only_existing_videos(
    State((state, presence)): State<(AppState, Arc<Presence>)>,
    request: Request,
    next: Next,
) -> Response {
    let video = request
        .uri()
        .path()
        .strip_prefix("/media/videos/")
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    if let Some(video) = video {
        match presence.exists(&state.db, &video).await {
            Ok(true) => {}
            Ok(false) => return ApiError::NotFound("object").into_response(),
            Err(e) => return e.into_response(),
        }
    }
    next.run(request).await
}

/// A rendition's media playlist gets one `EXT-X-DATERANGE` per product tag viewers see, so that
/// any HLS player (hls.js, AVPlayer, ExoPlayer) surfaces the tags as timed metadata. Tags change
/// after transcoding, so they are added as the playlist is served (playlists are never cached).
async fn product_ranges(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let Some(video) = media_playlist_video(&path) else {
        return response;
    };
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 * 1024 * 1024).await else {
        return ApiError::Internal(anyhow::anyhow!("reading playlist {path}")).into_response();
    };
    let tags =
        match vitrine_shop::tags::for_video(&state.db, &video, vitrine_shop::tags::Shown::Public)
            .await
        {
            Ok(tags) => tags,
            Err(e) => return ApiError::from(e).into_response(),
        };
    let ranges: Vec<ProductRange> = tags
        .iter()
        .map(|tag| ProductRange {
            id: tag.id.as_str(),
            product_id: tag.product_id.as_str(),
            title: &tag.title,
            start_ms: tag.range.start_ms,
            end_ms: tag.range.end_ms,
        })
        .collect();
    let playlist = hls::with_product_ranges(&String::from_utf8_lossy(&bytes), &ranges);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ETAG);
    parts.headers.remove(header::LAST_MODIFIED);
    Response::from_parts(parts, Body::from(playlist))
}

/// The video of a rendition's media playlist path (`/media/videos/{video}/…/{rung}.m3u8`, not
/// the master playlist).
fn media_playlist_video(path: &str) -> Option<vitrine_core::ids::VideoId> {
    let rest = path.strip_prefix("/media/videos/")?;
    if !rest.ends_with(".m3u8") || rest.ends_with("/master.m3u8") {
        return None;
    }
    rest.split('/').next()?.parse().ok()
}

/// Playlists revalidate, videos' objects are kept an hour, product images are immutable (see
/// the module docs).
async fn cache_control(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let playlist = path.ends_with(".m3u8");
    let video = path.starts_with("/media/videos/");
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if playlist {
            "no-cache"
        } else if video {
            "public, max-age=3600"
        } else {
            "public, max-age=31536000, immutable"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

async fn proxy(
    State(state): State<AppState>,
    Path(_): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    // The route is one of the public prefixes: the key is the path after `/media/`.
    let Some(key) = uri.path().strip_prefix("/media/").map(str::to_owned) else {
        return ApiError::NotFound("object").into_response();
    };
    // RFC 9110 §14.2: a Range we cannot parse is ignored and the whole object served.
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse_header);
    let object = match state.store.get(&key, range).await {
        Ok(o) => o,
        Err(StoreError::NotFound(_)) | Err(StoreError::InvalidKey(_)) => {
            return ApiError::NotFound("object").into_response()
        }
        Err(StoreError::InvalidRange) => {
            return (StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable").into_response()
        }
        Err(StoreError::Other(e)) => return ApiError::Internal(e).into_response(),
    };
    let content_type = object
        .content_type
        .clone()
        .unwrap_or_else(|| content_type_for(&key).to_owned());
    let mut response = Response::new(Body::from_stream(object.body));
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(object.len));
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some((first, last)) = object.range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {first}-{last}/{}", object.total);
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rendition_playlists_of_videos_get_ranges() {
        let id = "vid_0193c8a0a0a07a0a8a0a0a0a0a0a0a0a";
        assert!(media_playlist_video(&format!("/media/videos/{id}/a1/hls/240p.m3u8")).is_some());
        assert!(media_playlist_video(&format!("/media/videos/{id}/a1/hls/master.m3u8")).is_none());
        assert!(
            media_playlist_video(&format!("/media/videos/{id}/a1/hls/240p_00001.ts")).is_none()
        );
        assert!(media_playlist_video("/media/products/prd_x/a.m3u8").is_none());
    }
}
