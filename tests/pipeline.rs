//! The whole pipeline on real video: upload → transcode → media over HTTP → tag → feed → delete.

mod common;

use std::time::Duration;

use common::{assert_playable_upright, media, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_phone_video_goes_from_upload_to_the_feed_upright_with_its_product_tag() {
    let app = TestApp::spawn().await;
    let (creator, creator_token) = app.account("creator", "Mia").await;
    let (_, merchant_token) = app.account("merchant", "Glow Co").await;
    let source = media("mb_rotate-buck-bunny.mp4"); // 1920x1080 coded, rotation metadata: portrait

    let response = app
        .upload(&creator_token, &source, "Bunny, sideways?")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["creator_id"], creator.as_str());
    assert_eq!(created["status"], "queued");
    assert_eq!(
        (created["width"].as_u64(), created["height"].as_u64()),
        (Some(1080), Some(1920))
    );

    let video = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["progress"], 1.0);
    assert!(
        (video["duration_ms"].as_i64().unwrap() - 2005).abs() <= 100,
        "{video}"
    );
    assert_playable_upright(&app, &video, &source).await;

    // Not in the feed? It must be: it is ready. And with the product tag, live.
    let product: Value = app
        .create_product(&merchant_token, "Carrot lip balm", 1299, "USD", 7)
        .await
        .json()
        .await
        .unwrap();
    let product_id = product["id"].as_str().unwrap();
    let response = app.tag(&merchant_token, &id, product_id, 200, 1500).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let feed: Value = app.feed("limit=5").await.json().await.unwrap();
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["playback"]["hls"], video["playback"]["hls"]);
    let tag = &items[0]["tags"][0];
    assert_eq!(tag["product_id"], product_id);
    assert_eq!(tag["title"], "Carrot lip balm");
    assert_eq!(tag["price"]["amount_minor"], 1299);
    assert_eq!(tag["price"]["currency"], "USD");
    assert_eq!(tag["in_stock"], true);
    assert_eq!(
        (tag["start_ms"].as_i64(), tag["end_ms"].as_i64()),
        (Some(200), Some(1500))
    );
    assert_eq!(feed["next_cursor"], Value::Null);

    // The creator's original is never public, only the renditions.
    assert!(!app.state.store.list("originals/").await.unwrap().is_empty());
    let r = app.get(&format!("/media/originals/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get(&format!("/media/videos/../originals/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Deleting removes the video, its objects, and its place in the feed.
    let response = app
        .delete(&format!("/v1/videos/{id}"), &creator_token)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, _) = app
        .fetch(video["playback"]["mp4"][0]["url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app
        .state
        .store
        .list(&format!("videos/{id}/"))
        .await
        .unwrap()
        .is_empty());
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
    let feed: Value = app.feed("").await.json().await.unwrap();
    assert!(feed["items"].as_array().unwrap().is_empty());
    let r = app.get(&format!("/v1/videos/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
