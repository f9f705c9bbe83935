//! The web client in a real browser: `vitrine serve` (the real app, with its worker) transcodes
//! real clips, a merchant tags one, and Debian's Chromium, driven by playwright-core
//! (`web/tests/*.mjs`), uses the pages at phone size, signed in by the API's session cookie
//! (the accounts a test makes get theirs put in the browser's cookie jar; the journey signs up
//! in the pages). Screenshots land in `target/tmp/web-artifacts/`.

use std::{path::Path, process::Command};

use crate::common::{id_of, media, SmtpServer, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn artifacts() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-artifacts")
}

/// Runs a browser script against `app`, off the async runtime: its arguments are the app's base
/// URL, `args` (session tokens among them, which the script puts in the browser as the session
/// cookie), then the artefacts directory.
async fn in_browser(app: &TestApp, script: &'static str, args: &[&str]) -> String {
    let mut all = vec![app.url("").trim_end_matches('/').to_owned()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(artifacts().display().to_string());
    tokio::task::spawn_blocking(move || browser(script, &all))
        .await
        .unwrap()
}

/// Runs a browser script from `web/tests/` (where it finds playwright-core); panics with its
/// output unless it succeeds, else returns what it printed.
fn browser(script: &str, args: &[String]) -> String {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need playwright-core and Chromium: run scripts/setup.sh --test"
    );
    let out = Command::new("node")
        .arg(web.join("tests").join(script))
        .args(args)
        .output()
        .expect("running node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_viewer_feed_plays_swipes_shows_product_cards_and_buys() {
    let app = TestApp::spawn().await;
    let creator = app.account("creator", "Cleo").await;
    let other = app.account("creator", "Oren").await;
    let merchant = app.account("merchant", "Mia").await;
    let viewer = app.account("viewer", "Vic").await;

    let tagged = app
        .upload_ready(&creator.1, &media("mp4ff_bbb_prog_10s.mp4"), "Bunny")
        .await;
    app.upload_ready(&other.1, &media("mb_trim-buck-bunny.webm"), "Bunny again")
        .await;

    let (product, tag) = pending_tag(&app, &merchant.1, &tagged).await;
    // Two sizes: S sold out, L dearer with 3 left.
    for variant in [
        json!({"sku": "CARROT-S", "options": {"size": "S"}, "stock": 0}),
        json!({"sku": "CARROT-L", "options": {"size": "L"}, "stock": 3,
               "price": {"amount_minor": 2499, "currency": "USD"}}),
    ] {
        let r = app
            .client
            .post(app.url(&format!("/v1/products/{product}/variants")))
            .bearer_auth(&merchant.1)
            .json(&variant)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }
    let r = app
        .client
        .post(app.url(&format!("/v1/videos/{tagged}/tags/{tag}/approve")))
        .bearer_auth(&creator.1)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    app.refresh_feed().await;

    in_browser(&app, "viewer.mjs", &[&viewer.1, &tagged, &tag]).await;

    // What the browser did reached the server: one L sold, the viewing actions recorded.
    let p: Value = app.get_json(&format!("/v1/products/{product}"), None).await;
    let stock: Vec<(&str, i64)> = p["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["sku"].as_str().unwrap(), v["stock"].as_i64().unwrap()))
        .collect();
    assert_eq!(stock, [("CARROT-S", 0), ("CARROT-L", 2)], "{p}");
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT type FROM events WHERE viewer_id = $1 ORDER BY type")
            .bind(&viewer.0)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    for kind in [
        "impression",
        "like",
        "product_click",
        "share",
        "not_interested",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }

    // And the merchant's console shows it: the impression, the tap, the order and its GMV.
    in_browser(&app, "analytics.mjs", &[&merchant.1, &product, &tagged]).await;
}

/// A merchant's product (5 in stock) tagged into `video` over 1.5–4 s with a pin, waiting for
/// the creator's approval: `(product, tag)`.
async fn pending_tag(app: &TestApp, merchant: &str, video: &str) -> (String, String) {
    let r = app
        .create_product(merchant, "Carrot plush", 1999, "USD", 5)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let product = id_of(r).await;
    let r = app
        .client
        .post(app.url(&format!("/v1/videos/{video}/tags")))
        .bearer_auth(merchant)
        .json(
            &json!({"product_id": product, "start_ms": 1500, "end_ms": 4000,
                      "position": {"x": 0.5, "y": 0.4}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    (product, id_of(r).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_creator_studio_uploads_through_tus_resumes_after_a_reload_and_approves_tags() {
    let app = TestApp::spawn().await;
    let creator = app.account("creator", "Cleo").await;
    let merchant = app.account("merchant", "Mia").await;
    let clip = app
        .upload_ready(&creator.1, &media("mp4ff_bbb_prog_10s.mp4"), "Bunny")
        .await;
    let (_, tag) = pending_tag(&app, &merchant.1, &clip).await;
    let (_, other_tag) = pending_tag(&app, &merchant.1, &clip).await;
    // ~16 MB: four 5 MiB pieces, so that the page can be reloaded between two of them.
    let scratch = tempfile::tempdir().unwrap();
    let file = crate::common::big_video(scratch.path(), 8);

    in_browser(
        &app,
        "studio.mjs",
        &[
            &creator.1,
            &file.display().to_string(),
            &clip,
            &tag,
            &other_tag,
        ],
    )
    .await;

    // The approval and the upload happened on the server (the rejected tag shows to the
    // creator, not to everyone).
    let tags: Value = app
        .get_json(&format!("/v1/videos/{clip}/tags"), Some(&creator.1))
        .await;
    let status = |id: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status(&tag).as_deref(), Some("live"), "{tags}");
    assert_eq!(status(&other_tag).as_deref(), Some("rejected"), "{tags}");
    let mine: Value = app
        .get_json("/v1/creators/me/videos", Some(&creator.1))
        .await;
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{mine}");
    assert!(items.iter().all(|v| v["status"] == "ready"), "{mine}");
    assert_eq!(items[0]["title"], "Test pattern", "newest first: {mine}");
    // One at a time: the cursor walks the same list without repeats, then ends.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/creators/me/videos?limit=1".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get_json(&path, Some(&creator.1)).await;
        walked.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let all: Vec<Value> = items.iter().map(|v| v["id"].clone()).collect();
    assert_eq!(walked, all);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merchant_console_tags_a_product_on_the_timeline_and_viewers_see_it_on_any_screen() {
    let app = TestApp::spawn().await;
    let creator = app.account("creator", "Cleo").await;
    let merchant = app.account("merchant", "Mia").await;
    let clip = app
        .upload_ready(&creator.1, &media("mp4ff_bbb_prog_10s.mp4"), "Bunny")
        .await;
    let scratch = tempfile::tempdir().unwrap();
    let picture = scratch.path().join("carrot.png");
    image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([255, (x % 256) as u8, (y % 256) as u8])
    })
    .save(&picture)
    .unwrap();

    let out = in_browser(
        &app,
        "merchant.mjs",
        &[&merchant.1, &clip, &picture.display().to_string()],
    )
    .await;
    let created: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let tag = created["tag"].as_str().unwrap().to_owned();

    // As the merchant set it on the timeline: 20 % to 50 % of the 10 s clip, pinned at the
    // centre, waiting for the creator (and shown to the shop, not yet to everyone).
    let public: Value = app.get_json(&format!("/v1/videos/{clip}/tags"), None).await;
    assert_eq!(public.as_array().unwrap().len(), 0, "{public}");
    let tags: Value = app
        .get_json(&format!("/v1/videos/{clip}/tags"), Some(&merchant.1))
        .await;
    let t = &tags[0];
    assert_eq!(
        (t["id"].as_str(), t["status"].as_str()),
        (Some(tag.as_str()), Some("pending"))
    );
    let near = |v: &Value, want: f64, within: f64| (v.as_f64().unwrap() - want).abs() <= within;
    assert!(near(&t["start_ms"], 2000.0, 150.0), "{t}");
    assert!(near(&t["end_ms"], 5000.0, 150.0), "{t}");
    assert!(
        near(&t["position"]["x"], 0.5, 0.01) && near(&t["position"]["y"], 0.5, 0.01),
        "{t}"
    );
    assert_eq!(t["label"], "Soft & cuddly");
    assert!(
        t["image"].is_string(),
        "the product's picture is on the tag: {t}"
    );

    // Once the creator approves, a viewer sees its card on the clip.
    let r = app
        .client
        .post(app.url(&format!("/v1/videos/{clip}/tags/{tag}/approve")))
        .bearer_auth(&creator.1)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    in_browser(&app, "card.mjs", &[&clip, &tag]).await;

    // Every page, signed in, on a phone and on a desktop: nothing wider than the screen.
    let viewer = app.account("viewer", "Vic").await;
    in_browser(
        &app,
        "layout.mjs",
        &[&viewer.1, &creator.1, &merchant.1, &clip],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_person_sells_through_their_clip_and_another_buys_it_from_the_feed() {
    let app = TestApp::spawn().await;

    let out = in_browser(
        &app,
        "journey.mjs",
        &[&media("mb_rotate-buck-bunny.mp4").display().to_string()],
    )
    .await;
    let done: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let text = |key: &str| done[key].as_str().unwrap().to_owned();

    // On the server: Mia's clip (she is a creator now), her shop's product with one unit gone,
    // and Ben's paid order, credited to the clip and its card.
    let creator: (String, Option<String>) = sqlx::query_as(
        "SELECT a.email, a.handle FROM videos v JOIN accounts a ON a.id = v.creator_id \
         WHERE v.id = $1",
    )
    .bind(text("video"))
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        creator,
        (text("seller"), Some("mia.makes".to_owned())),
        "{done}"
    );
    let product: Value = app
        .get_json(&format!("/v1/products/{}", text("product")), None)
        .await;
    assert_eq!(product["stock"], 4, "{product}");
    let order: (String, String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT o.status, a.email, o.video_id, o.tag_id FROM orders o \
         JOIN accounts a ON a.id = o.buyer_id WHERE o.id = $1",
    )
    .bind(text("order"))
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        order,
        (
            "paid".to_owned(),
            text("buyer"),
            Some(text("video")),
            Some(text("tag"))
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_verifies_their_email_and_resets_a_forgotten_password_from_the_mailed_links() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.auth.smtp_url = Some(smtp.url().into());
    let app = TestApp::spawn_with(config, vitrine::Role::All, Some(dir)).await;
    let email = "mia@example.com";

    // She signs up in the feed, signs out, and asks for a reset link.
    in_browser(&app, "account.mjs", &["ask"]).await;
    let verify = smtp.link_token(email, "/verify-email", 0).await;
    let reset = smtp.link_token(email, "/reset-password", 0).await;
    // She opens both links from the mail.
    in_browser(&app, "account.mjs", &["links", &verify, &reset]).await;

    // The new password signs in; the old one no longer does; the address is verified.
    let log_in = |password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    assert_eq!(
        log_in("carrot lip balm 42").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = log_in("beetroot tint 2027").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let granted: Value = r.json().await.unwrap();
    assert_eq!(granted["account"]["email_verified"], true, "{granted}");
}

/// A forged request: what another site makes a signed-in person's browser send carries the
/// session cookie wherever `SameSite=Lax` does not hold it back (a sibling subdomain is the same
/// site; some browsers ignore the attribute), but never our `Origin`.
#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_request_with_the_session_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/v1/auth/signup"))
        .json(
            &json!({"email": "mia@example.com", "password": "carrot lip balm 42",
                      "display_name": "Mia"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("vitrine_session=vt_"), "{cookie}");
    let open_shop = |origin: &str| {
        app.client
            .post(app.url("/v1/shops"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({"name": "Mia's Balms"}))
            .send()
    };

    let forged = open_shop("https://evil.example").await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_site_request", "{body}");
    let me: Value = app
        .client
        .get(app.url("/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["shops"],
        json!([]),
        "the forged request changed nothing: {me}"
    );

    // The same request from our own pages goes through.
    let own = open_shop(app.url("").trim_end_matches('/')).await.unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_and_asset_is_served_with_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/studio",
        "/merchant",
        "/reset-password",
        "/verify-email",
        "/assets/api.js",
        "/assets/app.css",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let csp = header("content-security-policy");
        let directive = |name: &str| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.split_whitespace().next() == Some(name))
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            directive("script-src"),
            "script-src 'self'",
            "{path}: {csp}"
        );
        assert_eq!(
            directive("frame-ancestors"),
            "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(directive("object-src"), "object-src 'none'", "{path}");
        assert_eq!(directive("base-uri"), "base-uri 'none'", "{path}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            header("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
        // Nothing inline that the policy would block: no inline script or handler, no style
        // attribute.
        if !path.starts_with("/assets/") {
            let html = r.text().await.unwrap();
            for script in html.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap();
                assert!(tag.contains(" src="), "{path} has an inline script: {tag}");
            }
            for inline in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " style=",
                "javascript:",
            ] {
                assert!(!html.contains(inline), "{path} has {inline}");
            }
            assert!(!html.contains("<style"), "{path} has a <style> element");
        }
    }
}

/// The pages send events by the names in `web/static/api.js`'s `EVENT_TYPES`; the server accepts
/// the ones in `vitrine_feed::events::TYPES`. A type added or renamed on one side only would
/// have the server refuse what the pages send (per event, silently to the viewer).
#[test]
fn the_pages_event_types_are_the_ones_the_server_accepts() {
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static/api.js"))
            .unwrap();
    let start = script
        .find("export const EVENT_TYPES = Object.freeze({")
        .expect("api.js declares EVENT_TYPES");
    let body = &script[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("})").unwrap()];
    let mut pages: Vec<String> = body
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (key, value) = line.trim_end_matches(',').split_once(':').unwrap();
            let value = value.trim().trim_matches('"');
            assert_eq!(key.trim(), value, "EVENT_TYPES.{key} must be its own name");
            value.to_owned()
        })
        .collect();
    let mut server: Vec<String> = vitrine_feed::events::TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    pages.sort();
    server.sort();
    assert_eq!(pages, server);
}
