//! Product anchors with consent, over real HTTP: a merchant's tag waits for the creator; a
//! creator tags affiliate products live; limits, pins, labels and variants are validated; what
//! viewers see follows stock and status live; tags placed before the duration is known are
//! checked when it is.

use crate::common::{assert_error, fresh_postgres_url, media, test_config, DbKind, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine::Role;

struct World {
    app: TestApp,
    creator: String,
    merchant: String,
    video: String,
    duration: i64,
}

/// An API (no worker: videos stay `queued`, with their duration known), a creator with one
/// video, and a merchant.
async fn world(max_live_tags: u32) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.shop.max_live_tags = max_live_tags;
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (_, creator) = app.account("creator", "Mia").await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let video: Value = app
        .upload(&creator, &media("mb_rotate-buck-bunny.mp4"), "routine")
        .await
        .json()
        .await
        .unwrap();
    World {
        video: video["id"].as_str().unwrap().to_owned(),
        duration: video["duration_ms"].as_i64().unwrap(),
        app,
        creator,
        merchant,
    }
}

async fn tag(app: &TestApp, token: &str, video: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/videos/{video}/tags")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn decide(
    app: &TestApp,
    token: &str,
    video: &str,
    tag: &str,
    what: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/videos/{video}/tags/{tag}/{what}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The tags a viewer sees in the video object.
async fn shown(app: &TestApp, video: &str) -> Vec<String> {
    app.get_video(video).await["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

impl World {
    /// A product of the merchant's: `title` at $12.99 with `stock` in stock, plus `extra`'s fields.
    async fn product(&self, title: &str, stock: i64, extra: Value) -> Value {
        let mut body = json!({"title": title, "price": {"amount_minor": 1299, "currency": "USD"}, "stock": stock});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.app.product(&self.merchant, body).await
    }

    /// A tag `token` places on the world's video; its JSON (asserting it was created).
    async fn tagged(&self, token: &str, body: Value) -> Value {
        let r = tag(&self.app, token, &self.video, body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }
}

/// A merchant's tag waits for the video's creator, who alone approves (live) or rejects it
/// (stored, never shown), once.
#[tokio::test(flavor = "multi_thread")]
async fn a_merchants_tag_waits_for_the_creators_decision() {
    let w = world(5).await;
    let (app, video) = (&w.app, w.video.as_str());
    let (_, other_creator) = app.account("creator", "Bo").await;
    let balm = w.product("Balm", 5, json!({})).await;
    let balm_id = balm["id"].as_str().unwrap();
    let r = tag(app, &w.merchant, video, json!({"product_id": balm_id, "start_ms": 0, "end_ms": 1000, "label": "Try it", "position": {"x": 0.25, "y": 0.8}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["label"], "Try it");
    assert_eq!(pending["position"], json!({"x": 0.25, "y": 0.8}));
    assert!(shown(app, video).await.is_empty(), "not before consent");
    let pending_id = pending["id"].as_str().unwrap();

    // Only the video's creator decides.
    let r = decide(app, &other_creator, video, pending_id, "approve").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = decide(app, &w.merchant, video, pending_id, "approve").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = decide(app, &w.creator, video, pending_id, "approve").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "live");
    assert_eq!(shown(app, video).await, [pending_id]);
    let r = decide(app, &w.creator, video, pending_id, "reject").await;
    assert_error(r, StatusCode::CONFLICT, "tag_not_pending").await;

    // A second one, rejected: stored, never shown.
    let r = tag(
        app,
        &w.merchant,
        video,
        json!({"product_id": balm_id, "start_ms": 500, "end_ms": 900}),
    )
    .await;
    let second: Value = r.json().await.unwrap();
    let r = decide(
        app,
        &w.creator,
        video,
        second["id"].as_str().unwrap(),
        "reject",
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "rejected");
    assert_eq!(shown(app, video).await, [pending_id]);
}

/// The creator tags products open to affiliates (live at once), not others, and only on their
/// own videos.
#[tokio::test(flavor = "multi_thread")]
async fn a_creators_affiliate_tag_is_live_at_once_on_their_own_videos_only() {
    let w = world(5).await;
    let (app, video) = (&w.app, w.video.as_str());
    let (_, other_creator) = app.account("creator", "Bo").await;
    let balm = w.product("Balm", 5, json!({})).await;
    let balm_id = balm["id"].as_str().unwrap();
    let serum = app.product(&w.merchant,
        json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "USD"}, "stock": 2, "commission_bps": 1000}),
    )
    .await;
    let r = tag(
        app,
        &w.creator,
        video,
        json!({"product_id": serum["id"], "start_ms": 100, "end_ms": 200}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let affiliate: Value = r.json().await.unwrap();
    assert_eq!(affiliate["status"], "live");
    let r = tag(
        app,
        &w.creator,
        video,
        json!({"product_id": balm_id, "start_ms": 100, "end_ms": 200}),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "not_affiliate").await;
    // Not on someone else's video.
    let theirs: Value = app
        .upload(&other_creator, &media("mp_smpte-2997.mp4"), "theirs")
        .await
        .json()
        .await
        .unwrap();
    let r = tag(
        app,
        &w.creator,
        theirs["id"].as_str().unwrap(),
        json!({"product_id": serum["id"], "start_ms": 0, "end_ms": 100}),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

/// A draft product is invisible to creators and cannot be tagged by its merchant.
#[tokio::test(flavor = "multi_thread")]
async fn a_draft_product_cannot_be_tagged() {
    let w = world(5).await;
    let (app, video) = (&w.app, w.video.as_str());
    let draft = app.product(&w.merchant,
        json!({"title": "Soon", "price": {"amount_minor": 1, "currency": "USD"}, "stock": 1, "status": "draft", "commission_bps": 500}),
    )
    .await;
    let r = tag(
        app,
        &w.creator,
        video,
        json!({"product_id": draft["id"], "start_ms": 0, "end_ms": 100}),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_product").await;
    let r = tag(
        app,
        &w.merchant,
        video,
        json!({"product_id": draft["id"], "start_ms": 0, "end_ms": 100}),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "product_not_active").await;
}

/// A creator selling their own product (through a shop they open) tags it freely, affiliate
/// programme or not, and removes the tag.
#[tokio::test(flavor = "multi_thread")]
async fn a_creator_tags_their_own_shops_products_freely() {
    let w = world(5).await;
    let (app, video) = (&w.app, w.video.as_str());
    let r = app
        .client
        .post(app.url("/v1/shops"))
        .bearer_auth(&w.creator)
        .json(&json!({"name": "Mia's merch"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let merch = app.product(&w.creator,
        json!({"title": "Mia's tote", "price": {"amount_minor": 3000, "currency": "USD"}, "stock": 3}),
    )
    .await;
    let r = tag(
        app,
        &w.creator,
        video,
        json!({"product_id": merch["id"], "start_ms": 0, "end_ms": 500}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let own: Value = r.json().await.unwrap();
    assert_eq!(own["status"], "live");
    let r = app
        .delete(
            &format!("/v1/videos/{video}/tags/{}", own["id"].as_str().unwrap()),
            &w.creator,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Either side removes a tag; the shop an affiliate's tag on its product too.
#[tokio::test(flavor = "multi_thread")]
async fn either_side_removes_a_tag() {
    let w = world(5).await;
    let (app, video) = (&w.app, w.video.as_str());
    let balm = w.product("Balm", 5, json!({})).await;
    let serum = w.product("Serum", 2, json!({"commission_bps": 1000})).await;
    let approved = w
        .tagged(
            &w.merchant,
            json!({"product_id": balm["id"], "start_ms": 0, "end_ms": 1000}),
        )
        .await;
    let pending_id = approved["id"].as_str().unwrap();
    let r = decide(app, &w.creator, video, pending_id, "approve").await;
    assert_eq!(r.status(), StatusCode::OK);
    let rejected = w
        .tagged(
            &w.merchant,
            json!({"product_id": balm["id"], "start_ms": 500, "end_ms": 900}),
        )
        .await;
    let r = decide(
        app,
        &w.creator,
        video,
        rejected["id"].as_str().unwrap(),
        "reject",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let affiliate = w
        .tagged(
            &w.creator,
            json!({"product_id": serum["id"], "start_ms": 100, "end_ms": 200}),
        )
        .await;
    let r = app
        .delete(
            &format!(
                "/v1/videos/{video}/tags/{}",
                affiliate["id"].as_str().unwrap()
            ),
            &w.merchant,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .delete(&format!("/v1/videos/{video}/tags/{pending_id}"), &w.creator)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let all = app
        .get_json(&format!("/v1/videos/{video}/tags"), Some(&w.creator))
        .await;
    let statuses: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected"], "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_pins_labels_variants_and_stock_decide_what_viewers_see() {
    let w = world(2).await;
    let (app, video) = (&w.app, w.video.as_str());
    let lamp = app.product(&w.merchant,
        json!({"title": "Lamp", "price": {"amount_minor": 4000, "currency": "EUR"}, "stock": 0,
               "variants": [{"sku": "L-RED", "options": {"colour": "red"}, "price": {"amount_minor": 4500, "currency": "EUR"}, "stock": 1},
                            {"sku": "L-BLUE", "options": {"colour": "blue"}, "stock": 0}]}),
    )
    .await;
    let other = app
        .product(
            &w.merchant,
            json!({"title": "Other", "price": {"amount_minor": 1, "currency": "EUR"}, "stock": 1,
               "variants": [{"sku": "O-1", "stock": 1}]}),
        )
        .await;
    let lamp_id = lamp["id"].as_str().unwrap();
    let red = lamp["variants"][0]["id"].as_str().unwrap();
    let blue = lamp["variants"][1]["id"].as_str().unwrap();

    for (body, code) in [
        (
            json!({"product_id": lamp_id, "start_ms": 0, "end_ms": 100, "position": {"x": 1.5, "y": 0.2}}),
            "invalid_position",
        ),
        (
            json!({"product_id": lamp_id, "start_ms": 0, "end_ms": 100, "label": "x".repeat(41)}),
            "invalid_label",
        ),
        (
            json!({"product_id": lamp_id, "start_ms": 0, "end_ms": 100, "variant_id": other["variants"][0]["id"]}),
            "unknown_variant",
        ),
        (
            json!({"product_id": lamp_id, "start_ms": 300, "end_ms": 100}),
            "invalid_range",
        ),
        (
            json!({"product_id": lamp_id, "start_ms": 0, "end_ms": w.duration + 1}),
            "invalid_range",
        ),
    ] {
        let r = tag(app, &w.merchant, video, body.clone()).await;
        let got = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert!(!got.to_string().is_empty(), "{body}");
    }

    // A merchant who is also... the video's creator is not: every tag here is pending, then
    // approved up to the limit of 2 live tags.
    let mut ids = Vec::new();
    for variant in [red, blue, red] {
        let r = tag(
            app,
            &w.merchant,
            video,
            json!({"product_id": lamp_id, "variant_id": variant, "start_ms": 0, "end_ms": 1000}),
        )
        .await;
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids[..2] {
        let r = decide(app, &w.creator, video, id, "approve").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = decide(app, &w.creator, video, &ids[2], "approve").await;
    assert_error(r, StatusCode::CONFLICT, "too_many_tags").await;

    // Viewers see the red variant's tag (in stock, at its own price), not the sold-out blue.
    let video_object = app.get_video(video).await;
    let tags = video_object["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 1, "{video_object}");
    assert_eq!(tags[0]["variant_id"], red);
    assert_eq!(tags[0]["price"]["amount_minor"], 4500);
    assert_eq!(tags[0]["in_stock"], true);

    // Blue comes back when it is restocked; everything goes when the product is archived.
    let r = app
        .client
        .patch(app.url(&format!("/v1/products/{lamp_id}/variants/{blue}")))
        .bearer_auth(&w.merchant)
        .json(&json!({"stock": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(shown(app, video).await.len(), 2);
    let r = app
        .client
        .patch(app.url(&format!("/v1/products/{lamp_id}")))
        .bearer_auth(&w.merchant)
        .json(&json!({"status": "archived"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(shown(app, video).await.is_empty());
    let all = app
        .get_json(&format!("/v1/videos/{video}/tags"), Some(&w.creator))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3, "still stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_placed_while_uploading_are_checked_once_the_duration_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(test_config(dir.path()), Role::Api, Some(dir)).await;
    let (_, creator) = app.account("creator", "Mia").await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let balm = app.product(&merchant,
        json!({"title": "Balm", "price": {"amount_minor": 1299, "currency": "USD"}, "stock": 5}),
    )
    .await;
    let bytes = std::fs::read(media("mb_rotate-buck-bunny.mp4")).unwrap();
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let video = r.headers()["video-id"].to_str().unwrap().to_owned();

    // Still uploading: no duration yet, so any range is taken for now.
    let fits = tag(
        &app,
        &merchant,
        &video,
        json!({"product_id": balm["id"], "start_ms": 0, "end_ms": 1000}),
    )
    .await;
    assert_eq!(fits.status(), StatusCode::CREATED);
    let too_long = tag(
        &app,
        &merchant,
        &video,
        json!({"product_id": balm["id"], "start_ms": 0, "end_ms": 3_600_000}),
    )
    .await;
    assert_eq!(too_long.status(), StatusCode::CREATED);
    let too_long: Value = too_long.json().await.unwrap();

    let r = app
        .client
        .patch(&location)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let all = app
        .get_json(&format!("/v1/videos/{video}/tags"), Some(&creator))
        .await;
    let by_id = |id: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap()
    };
    let invalid = by_id(too_long["id"].as_str().unwrap());
    assert_eq!(invalid["status"], "invalid", "{all}");
    assert!(
        invalid["reason"].as_str().unwrap().contains("3600000 ms"),
        "{invalid}"
    );
    let kept = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "pending")
        .count();
    assert_eq!(kept, 1, "{all}");

    // The transcode may find fewer frames than the probe promised (a cut file is salvaged):
    // when the video's duration shrinks, tags past its end show as invalid and are not shown.
    sqlx::query("UPDATE videos SET duration_ms = 800 WHERE id = $1")
        .bind(&video)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let all = app
        .get_json(&format!("/v1/videos/{video}/tags"), Some(&creator))
        .await;
    let statuses: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["invalid", "invalid"], "{all}");
    assert!(all[0]["reason"]
        .as_str()
        .unwrap()
        .contains("only 800 ms long"));
}

/// Ten tags going live at once on a video that shows at most three: three do, on both
/// databases, whether they are placed live or approved.
async fn the_live_tag_limit_holds_under_concurrency(db: DbKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.shop.max_live_tags = 3;
    if db == DbKind::Postgres {
        config.storage.database_url = Some(fresh_postgres_url().await.into());
    }
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (creator_id, creator) = app.account("creator", "Mia").await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let serum = app.product(&merchant,
        json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "USD"}, "stock": 9, "commission_bps": 1000}),
    )
    .await;
    let serum = serum["id"].as_str().unwrap();
    let clips = app.ready_clips(&creator_id, 2, 60_000).await;

    let count = |results: &[(StatusCode, Value)], status: StatusCode| {
        results.iter().filter(|(s, _)| *s == status).count()
    };
    // The creator's affiliate tags go live as they are placed.
    let placed = futures::future::join_all((0..10).map(|i| {
        let (app, creator, clip) = (&app, &creator, &clips[0]);
        async move {
            let r = tag(
                app,
                creator,
                clip,
                json!({"product_id": serum, "start_ms": i * 1000, "end_ms": i * 1000 + 500}),
            )
            .await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    assert_eq!(count(&placed, StatusCode::CREATED), 3, "{placed:?}");
    assert_eq!(count(&placed, StatusCode::CONFLICT), 7, "{placed:?}");
    assert!(placed
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .all(|(_, b)| b["error"]["code"] == "too_many_tags"));

    // The merchant's tags wait; the creator approves ten at once.
    let mut pending = Vec::new();
    for i in 0..10 {
        let r = tag(
            &app,
            &merchant,
            &clips[1],
            json!({"product_id": serum, "start_ms": i * 1000, "end_ms": i * 1000 + 500}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        pending.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let approved = futures::future::join_all(pending.iter().map(|t| {
        let (app, creator, clip) = (&app, &creator, &clips[1]);
        async move {
            let r = decide(app, creator, clip, t, "approve").await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    assert_eq!(count(&approved, StatusCode::OK), 3, "{approved:?}");
    assert_eq!(count(&approved, StatusCode::CONFLICT), 7, "{approved:?}");
    for clip in &clips {
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tags WHERE video_id = $1 AND status = 'live'")
                .bind(clip)
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        assert_eq!(live, 3);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_tag_limit_holds_under_concurrency_sqlite() {
    the_live_tag_limit_holds_under_concurrency(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_tag_limit_holds_under_concurrency_postgres() {
    the_live_tag_limit_holds_under_concurrency(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_and_rejected_tags_are_shown_only_to_the_creator_and_the_seller() {
    let w = world(5).await;
    let app = &w.app;
    let (_, rival) = app.account("merchant", "Rival Co").await;
    let (_, viewer) = app.account("viewer", "Vic").await;
    let balm = app
        .product(
            &w.merchant,
            json!({"title": "Balm", "price": {"amount_minor": 999, "currency": "USD"}, "stock": 5}),
        )
        .await;
    let balm = balm["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = tag(
            app,
            &w.merchant,
            &w.video,
            json!({"product_id": balm, "start_ms": i * 100, "end_ms": i * 100 + 50}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        decide(app, &w.creator, &w.video, &ids[0], "approve")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        decide(app, &w.creator, &w.video, &ids[1], "reject")
            .await
            .status(),
        StatusCode::OK
    );

    let seen = |token: Option<String>| {
        let path = format!("/v1/videos/{}/tags", w.video);
        async move {
            let tags = app.get_json(&path, token.as_deref()).await;
            let mut statuses: Vec<String> = tags
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["status"].as_str().unwrap().to_owned())
                .collect();
            statuses.sort();
            statuses
        }
    };
    let everything = vec!["live".to_owned(), "pending".into(), "rejected".into()];
    assert_eq!(seen(Some(w.creator.clone())).await, everything);
    assert_eq!(seen(Some(w.merchant.clone())).await, everything);
    assert_eq!(seen(None).await, vec!["live".to_owned()]);
    assert_eq!(seen(Some(viewer)).await, vec!["live".to_owned()]);
    assert_eq!(seen(Some(rival)).await, vec!["live".to_owned()]);
}
