//! Bad input gets a clear error in our format and the right status; nothing already stored is
//! lost and the server stays up.

use std::time::Duration;

use crate::common::{assert_error, media, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn uploads_that_are_not_usable_videos_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let (_, token) = app.account("creator", "c").await;

    let text = b"just some notes, not a video\n".repeat(100);
    let r = app
        .upload_bytes(&token, text, "application/octet-stream", "notes")
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "not_a_video").await;

    let r = app
        .upload_bytes(&token, Vec::new(), "video/mp4", "empty")
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "empty_body").await;

    // A 100-byte stub of an MP4, cut inside its index: the creator learns it was cut short.
    let r = app
        .upload(&token, &media("mp4ff_init_truncated.mp4"), "truncated")
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "truncated_video").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("truncated at"), "{body}");

    let r = app
        .upload(&token, &media("mb_trim-buck-bunny.aac"), "audio only")
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "no_video_stream").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("audio"),
        "{body}"
    );

    let r = app.upload(&token, &media("mp_test_video.mp4"), "1x1").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "video_too_small").await;

    let r = app
        .upload_bytes(&token, b"{}".to_vec(), "application/json", "json")
        .await;
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // Nothing was recorded or stored for any of them.
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
    let feed: Value = app.feed("").await.json().await.unwrap();
    assert!(feed["items"].as_array().unwrap().is_empty());
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_probes_but_does_not_decode_fails_with_a_reason_and_the_queue_moves_on() {
    let app = TestApp::spawn().await;
    let (_, token) = app.account("creator", "c").await;
    let r = app
        .upload(&token, &media("exo_invalid-bitstream.webm"), "broken")
        .await;
    if r.status() == StatusCode::UNPROCESSABLE_ENTITY {
        // Refused at the door is as good as failed later, as long as it says why.
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unreadable_video").await;
    } else {
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let v = app
            .wait_for(&id, &["ready", "failed"], Duration::from_secs(120))
            .await;
        assert_eq!(v["status"], "failed", "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert!(v["playback"]["hls"].is_null());
    }
    // The next upload is not blocked behind it.
    let r = app
        .upload(&token, &media("mb_1080p-portrait-derotated.mp4"), "fine")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(180))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_get_401_403_404_and_422_where_they_should() {
    // API only: no worker moves the video on while its status is compared below.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::test_config(dir.path());
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    let (_, creator) = app.account("creator", "c").await;
    let (_, other_creator) = app.account("creator", "d").await;
    let (_, merchant) = app.account("merchant", "m").await;
    let (_, other_merchant) = app.account("merchant", "n").await;
    let (viewer_id, viewer) = app.account("viewer", "v").await;
    let clip = media("mb_1080p-portrait-derotated.mp4");

    // Auth.
    let r = app
        .client
        .post(app.url("/v1/videos"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.upload("vt_wrong", &clip, "x").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.upload(&viewer, &clip, "x").await;
    assert_error(r, StatusCode::FORBIDDEN, "not_a_creator").await;
    let r = app.create_product(&viewer, "x", 100, "USD", 1).await;
    assert_error(r, StatusCode::FORBIDDEN, "no_shop").await;
    let me = |token: Option<&str>, path: &str| {
        let mut r = app.client.get(app.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = me(None, "/v1/me").await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r: Value = me(Some(&viewer), "/v1/me")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["id"].as_str(), r["role"].as_str(), r["creator"].as_bool()),
        (Some(viewer_id.as_str()), Some("user"), Some(false))
    );
    let r = me(Some(&viewer), "/v1/creators/me/videos").await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "not_a_creator").await;
    let r = me(None, "/v1/creators/me/videos").await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = me(Some(&creator), "/v1/creators/me/videos?limit=0")
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_limit").await;
    let r = me(Some(&creator), "/v1/creators/me/videos?cursor=nope")
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let r = me(Some(&creator), "/v1/creators/me/videos?limit=x")
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;

    // Products: validation.
    let r = app.create_product(&merchant, "Balm", -5, "USD", 1).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_product").await;
    let r = app.create_product(&merchant, "Balm", 500, "XYZ", 1).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_product").await;
    let r = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;
    let r = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant)
        .json(&json!({"title": "Balm", "price": 100, "stock": 1}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let r = app.get("/v1/products/prd_nope").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    let product: Value = app
        .create_product(&merchant, "Balm", 500, "EUR", 3)
        .await
        .json()
        .await
        .unwrap();
    let product_id = product["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/v1/products/{product_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fetched["price"],
        json!({"amount_minor": 500, "currency": "EUR"})
    );

    // Videos and tags.
    let video: Value = app
        .upload(&creator, &clip, "mine")
        .await
        .json()
        .await
        .unwrap();
    let video_id = video["id"].as_str().unwrap();
    let duration = video["duration_ms"].as_i64().unwrap();
    let r = app
        .delete(&format!("/v1/videos/{video_id}"), &other_creator)
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .get("/v1/videos/vid_0193c8a0a0a07a0a8a0a0a0a0a0a0a0a")
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .tag(&other_merchant, video_id, product_id, 0, 1000)
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .tag(&merchant, video_id, product_id, 0, duration + 1)
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_range").await;
    let r = app.tag(&merchant, video_id, product_id, 900, 100).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_range").await;
    let r = app.tag(&merchant, video_id, "prd_missing", 0, 100).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_product").await;
    let r = app.tag(&merchant, "vid_missing", product_id, 0, 100).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.tag(&merchant, video_id, product_id, 0, duration).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "a tag may span the whole video"
    );

    // Feed parameters.
    assert_error(
        app.feed("limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_limit",
    )
    .await;
    assert_error(
        app.feed("limit=abc").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_error(
        app.feed("cursor=garbage").await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    // A feed is personalised only for its own viewer: naming anyone else (or anyone, without
    // signing in) is refused.
    for query in [
        "viewer=acc_0193c8a0a0a07a0a8a0a0a0a0a0a0a0a".to_owned(),
        format!("viewer={viewer_id}"),
    ] {
        assert_error(
            app.feed(&query).await,
            StatusCode::FORBIDDEN,
            "not_your_feed",
        )
        .await;
        let as_creator = app
            .client
            .get(app.url(&format!("/v1/feed?{query}")))
            .bearer_auth(&creator)
            .send()
            .await
            .unwrap();
        assert_error(as_creator, StatusCode::FORBIDDEN, "not_your_feed").await;
    }
    let own = app
        .client
        .get(app.url(&format!("/v1/feed?viewer={viewer_id}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);

    // Unknown routes and methods use the same error format.
    let r = app.get("/v1/nothing").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.client.put(app.url("/v1/feed")).send().await.unwrap();
    assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    // The video survived all of that, with its one (pending) tag, which only its creator (and
    // the tag's shop) see.
    let still = app.get_video(video_id).await;
    assert_eq!(still["status"], video["status"]);
    let path = format!("/v1/videos/{video_id}/tags");
    let public = app.get_json(&path, None).await;
    assert_eq!(public.as_array().unwrap().len(), 0, "{public}");
    let tags = app.get_json(&path, Some(&creator)).await;
    assert_eq!(tags.as_array().unwrap().len(), 1);
    assert_eq!(tags[0]["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_over_the_size_limit_get_413_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.uploads.max_bytes = 100_000;
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    let (_, token) = app.account("creator", "c").await;
    let r = app
        .upload(&token, &media("mb_rotate-buck-bunny.mp4"), "big")
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Without a Content-Length (chunked), the cap is enforced while streaming.
    let bytes = std::fs::read(media("mb_rotate-buck-bunny.mp4")).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = app
        .client
        .post(app.url("/v1/videos"))
        .bearer_auth(&token)
        .header("content-type", "video/mp4")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
    let spooled = std::fs::read_dir(app.config.storage.data_dir.join("spool"))
        .unwrap()
        .count();
    assert_eq!(spooled, 0, "the partial upload's spool file is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn videos_beyond_the_configured_limits_are_refused_with_the_number_that_was_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.uploads.max_duration = std::time::Duration::from_secs(5);
    config.uploads.max_long_side = 1900;
    config.uploads.max_fps = 20.0;
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    let (_, token) = app.account("creator", "c").await;

    let r = app
        .upload(&token, &media("mp_smpte-2997.mp4"), "10 s")
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "video_too_long").await;
    assert_eq!(
        body["error"]["message"],
        "the video is 10s long; the limit is 5s"
    );

    let r = app
        .upload(&token, &media("mb_1080p-portrait-derotated.mp4"), "tall")
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "video_too_large").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1080x1920"),
        "{body}"
    );

    let r = app
        .upload(&token, &media("exo_bear-vp9-odd-dimensions.webm"), "30 fps")
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "frame_rate_too_high").await;
    assert_eq!(
        body["error"]["message"],
        "the video runs at 30 frames per second; the limit is 20"
    );
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
}
