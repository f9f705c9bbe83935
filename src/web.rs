//! The web client, served by `vitrine serve` itself: the viewer's feed (`/`), the creator's
//! studio (`/studio`) and the merchant's console (`/merchant`). They are static pages that call
//! the public HTTP API like any other client; nothing here reads the database.
//!
//! The pages' own HTML, JavaScript and CSS (`web/static/`) are built into the binary. The npm
//! packages they use (hls.js, tus-js-client) are vendored at setup time through the npm registry
//! (`npm ci --prefix web`, run by `scripts/setup.sh`) and served from `web_vendor_dir` under
//! `/vendor/`: nothing is fetched from a CDN at run time. Without them the feed falls back to
//! the progressive MP4 rendition (and to native HLS where the browser has it).

use std::path::Path;

use axum::{
    extract::Path as UrlPath,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_http::services::ServeFile;
use vitrine_api::{ApiError, AppState};

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// `(name, content type, contents)` of the pages' own files.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", CSS, include_str!("../web/static/app.css")),
    ("api.js", JS, include_str!("../web/static/api.js")),
    ("feed.js", JS, include_str!("../web/static/feed.js")),
    ("studio.js", JS, include_str!("../web/static/studio.js")),
    ("merchant.js", JS, include_str!("../web/static/merchant.js")),
];

const PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../web/static/index.html")),
    ("/studio", include_str!("../web/static/studio.html")),
    ("/merchant", include_str!("../web/static/merchant.html")),
];

/// `(URL under /vendor/, file under the vendor dir)`.
const VENDORED: &[(&str, &str)] = &[
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    ("tus.min.js", "tus-js-client/dist/tus.min.js"),
];

/// Where `npm ci --prefix web` puts the vendored packages in this checkout.
pub fn default_vendor_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules")
}

pub fn router(vendor_dir: &Path) -> Router<AppState> {
    let mut router = Router::new().route("/assets/{name}", get(asset));
    for (path, html) in PAGES {
        router = router.route(path, get(move || async move { page(html) }));
    }
    for (name, file) in VENDORED {
        let file = vendor_dir.join(file);
        if !file.is_file() {
            tracing::warn!(file = %file.display(), "vendored web package missing: run `npm ci --prefix web` (scripts/setup.sh does)");
        }
        router = router.route_service(&format!("/vendor/{name}"), ServeFile::new(file));
    }
    router
}

fn page(html: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        html,
    )
        .into_response()
}

async fn asset(UrlPath(name): UrlPath<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(ApiError::NotFound("asset"))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        *body,
    )
        .into_response())
}
