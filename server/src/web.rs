//! The web client, served by `vitrine serve` itself: the viewer's feed (`/`), the creator's
//! studio (`/studio`), the merchant's console (`/merchant`), and the pages a mailed link opens
//! (`/reset-password`, `/verify-email`). They are static pages that call the public HTTP API
//! like any other client, signed in by the API's `HttpOnly` session cookie (they never see a
//! token); nothing here reads the database.
//!
//! The pages' own HTML, JavaScript and CSS (`web/static/`) are built into the binary. The npm
//! packages they use (hls.js, tus-js-client) are vendored at setup time through the npm registry
//! (`npm ci --prefix web`, run by `scripts/setup.sh`) and served from `server.web_vendor_dir`
//! (`VITRINE_WEB_VENDOR_DIR`) under `/vendor/`: nothing is fetched from a CDN at run time.
//! Without them the feed falls back to the progressive MP4 rendition (and to native HLS where
//! the browser has it).
//!
//! Every response from here carries the security headers of [`security_headers`]: a
//! Content-Security-Policy that allows only our own scripts (no inline script, no inline event
//! handler, no inline `style` attribute: the pages have none), no framing, and no referrer
//! beyond our origin.

use std::path::Path;

use axum::{
    extract::Path as UrlPath,
    http::{header, HeaderMap, HeaderValue},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tower_http::services::ServeFile;
use vitrine_api::{state::Urls, ApiError, AppState};

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// `(name, content type, contents)` of the pages' own files.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", CSS, include_str!("../../web/static/app.css")),
    ("api.js", JS, include_str!("../../web/static/api.js")),
    ("feed.js", JS, include_str!("../../web/static/feed.js")),
    ("studio.js", JS, include_str!("../../web/static/studio.js")),
    (
        "merchant.js",
        JS,
        include_str!("../../web/static/merchant.js"),
    ),
    (
        "account.js",
        JS,
        include_str!("../../web/static/account.js"),
    ),
];

/// One page answers both links a mail carries; its script reads which from the path.
const ACCOUNT_PAGE: &str = include_str!("../../web/static/account.html");

const PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../../web/static/index.html")),
    ("/studio", include_str!("../../web/static/studio.html")),
    ("/merchant", include_str!("../../web/static/merchant.html")),
    ("/reset-password", ACCOUNT_PAGE),
    ("/verify-email", ACCOUNT_PAGE),
];

/// `(URL under /vendor/, file under the vendor dir)`.
const VENDORED: &[(&str, &str)] = &[
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    ("tus.min.js", "tus-js-client/dist/tus.min.js"),
];

/// The pages, their assets and the vendored packages; `urls` says where media is served from
/// (the players and the storyboard load it, so the Content-Security-Policy must allow it).
pub fn router(vendor_dir: &Path, urls: &Urls) -> Router<AppState> {
    let mut router = Router::new().route("/assets/{name}", get(asset));
    for (path, html) in PAGES {
        router = router.route(path, get(move || async move { page(html) }));
    }
    for (name, file) in VENDORED {
        let file = vendor_dir.join(file);
        if !file.is_file() {
            tracing::warn!(file = %file.display(), "vendored web package missing: run `npm ci --prefix web` (scripts/setup.sh does) and point VITRINE_WEB_VENDOR_DIR at web/node_modules (scripts/start.sh does)");
        }
        router = router.route_service(&format!("/vendor/{name}"), ServeFile::new(file));
    }
    let headers = security_headers(media_origin(urls));
    router.layer(middleware::map_response(move |mut response: Response| {
        let headers = headers.clone();
        async move {
            response.headers_mut().extend(headers);
            response
        }
    }))
}

/// The headers every page and asset is sent with. The policy is OWASP's strict one, widened only
/// for what the players need: hls.js feeds the `<video>` from `blob:` (MediaSource), gives it an
/// empty `data:,WEBVTT` text track and runs its demuxer in a `blob:` worker; posters and
/// storyboard frames are images; playlists, segments and the storyboard's WebVTT are fetched
/// (`connect-src`). `style-src 'self'` forbids inline `style` attributes in the HTML; setting
/// `element.style` from our scripts stays allowed.
fn security_headers(media_origin: Option<String>) -> HeaderMap {
    let media = media_origin.map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:{media}; media-src 'self' data: blob:{media}; \
         connect-src 'self'{media}; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("an origin is header-safe"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
}

/// The origin media is served from when it is not ours (a CDN or a bucket in front of the
/// store), as a CSP source: `scheme://host[:port]`.
fn media_origin(urls: &Urls) -> Option<String> {
    let origin = |url: &str| -> Option<String> {
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split(['/', '?', '#']).next()?;
        (!host.is_empty()).then(|| format!("{}://{}", scheme.to_ascii_lowercase(), host))
    };
    let media = origin(&urls.media)?;
    (Some(&media) != origin(&urls.public).as_ref()).then_some(media)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(public: &str, media: &str) -> Urls {
        Urls {
            public: public.into(),
            media: media.into(),
        }
    }

    #[test]
    fn media_served_by_the_api_itself_needs_no_extra_source() {
        let same = urls("http://127.0.0.1:8080", "http://127.0.0.1:8080/media");
        assert_eq!(media_origin(&same), None);
    }

    #[test]
    fn media_on_a_cdn_is_allowed_by_its_origin_only() {
        let cdn = urls(
            "https://vitrine.example",
            "https://cdn.example:8443/bucket/media",
        );
        assert_eq!(
            media_origin(&cdn).as_deref(),
            Some("https://cdn.example:8443")
        );
        let policy = security_headers(media_origin(&cdn));
        let csp = policy[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("media-src 'self' data: blob: https://cdn.example:8443;"),
            "{csp}"
        );
        assert!(
            csp.contains("connect-src 'self' https://cdn.example:8443;"),
            "{csp}"
        );
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_framing() {
        let policy = security_headers(None);
        let csp = policy[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }
}
