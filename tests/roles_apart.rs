//! The scaled-out deployment: API and worker as separate processes' worth of wiring, sharing
//! PostgreSQL and an S3-compatible store (a real server we did not write, started by the test
//! command).

mod common;

use std::time::Duration;

use common::{
    assert_playable_upright, fresh_postgres_url, fresh_s3_bucket, media, test_config, TestApp,
};
use reqwest::StatusCode;
use serde_json::Value;
use vitrine::Role;

#[tokio::test(flavor = "multi_thread")]
async fn an_api_and_a_separate_worker_share_postgres_and_s3() {
    let api_dir = tempfile::tempdir().unwrap();
    let worker_dir = tempfile::tempdir().unwrap();
    let mut api_config = test_config(api_dir.path());
    api_config.database_url = Some(fresh_postgres_url().await);
    fresh_s3_bucket(&mut api_config).await;
    // The worker shares only the database and the bucket, not the data dir.
    let worker_config = vitrine::Config {
        data_dir: worker_dir.path().to_owned(),
        ..api_config.clone()
    };

    let api = TestApp::spawn_with(api_config, Role::Api, None).await;
    let mut worker = TestApp::spawn_with(worker_config, Role::Worker, None).await;
    let (_, token) = api.account("creator", "Ana").await;

    // The worker process serves only operations endpoints.
    let r = worker.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = worker.get("/v1/feed").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let source = media("mb_rotate-buck-bunny.mp4");
    let created: Value = api
        .upload(&token, &source, "from the phone")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("video id").to_owned();
    let video = api
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(video["status"], "ready", "{video}");

    // Everything lives in the bucket, and the API serves it from there.
    let keys = api
        .state
        .store
        .list(&format!("videos/{id}/"))
        .await
        .unwrap();
    assert!(
        keys.iter().any(|k| k.ends_with("hls/master.m3u8")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.ends_with(".mp4")), "{keys:?}");
    assert!(
        api.state.store.local_root().is_none(),
        "the API uses the S3 store"
    );
    assert_playable_upright(&api, &video, &source).await;
    worker.stop().await;
}
