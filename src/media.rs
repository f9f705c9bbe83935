//! `/media/{key}`: public objects (renditions, product images) served over HTTP with `Range`
//! support.
//!
//! The filesystem store is served by tower-http's `ServeDir` (ranges, conditional requests,
//! content types). The S3 store is proxied with the range passed through, so HLS playlists keep
//! working with relative segment URLs; deployments that put a CDN in front of the bucket set
//! `VITRINE_MEDIA_URL` and bypass this route.
//!
//! Caching: every object under a video's attempt prefix is written once, so it is immutable;
//! playlists are the exception (a `playable` video's lowest rung grows, and the master playlist
//! is replaced when the video becomes `ready`), so they must be revalidated.

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
use vitrine_assets::{content_type_for, ByteRange, Store, StoreError};

/// Only published renditions and product images are public. Originals (the creator's raw file,
/// with whatever its metadata holds, e.g. a phone's location) never are.
const PUBLIC_PREFIXES: [&str; 2] = ["videos", "products"];

pub fn router(store: &Store) -> Router<AppState> {
    let mut router = Router::new();
    for prefix in PUBLIC_PREFIXES {
        let mount = format!("/media/{prefix}");
        router = match store.local_root() {
            Some(root) => router.nest_service(&mount, ServeDir::new(root.join(prefix))),
            None => router.route(&format!("{mount}/{{*key}}"), get(proxy)),
        };
    }
    router.layer(middleware::from_fn(cache_control))
}

/// Playlists revalidate; everything else is immutable (see the module docs).
async fn cache_control(request: Request, next: Next) -> Response {
    let playlist = request.uri().path().ends_with(".m3u8");
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if playlist {
            "no-cache"
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
