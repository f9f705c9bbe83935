//! The scaled-out deployment: API and worker as separate processes' worth of wiring, sharing
//! PostgreSQL and an S3-compatible store (a real server we did not write, started by the test
//! command).

use std::time::Duration;

use crate::common::{
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
    api_config.storage.database_url = Some(fresh_postgres_url().await.into());
    fresh_s3_bucket(&mut api_config).await;
    // The worker shares only the database and the bucket, not the data dir.
    let mut worker_config = api_config.clone();
    worker_config.storage.data_dir = worker_dir.path().to_owned();

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

#[tokio::test(flavor = "multi_thread")]
async fn with_a_media_url_players_fetch_renditions_straight_from_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    fresh_s3_bucket(&mut config).await;
    // A public bucket (or a CDN in front of it): media URLs bypass the API entirely.
    let bucket_url = format!(
        "{}/{}",
        config.storage.s3.endpoint.clone().unwrap(),
        config.storage.s3.bucket.clone().unwrap()
    );
    allow_anonymous_reads_of_renditions(&config).await;
    config.server.media_url = Some(bucket_url.clone());
    config.server.public_url = Some("http://api.vitrine.test".into());
    let app = TestApp::spawn_with(config, Role::All, Some(dir)).await;
    let (_, token) = app.account("creator", "Ana").await;

    let source = media("mb_rotate-buck-bunny.mp4");
    let created: Value = app
        .upload(&token, &source, "direct")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("video id").to_owned();
    let video = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    let hls = video["playback"]["hls"].as_str().unwrap();
    assert!(hls.starts_with(&bucket_url), "{hls}");
    assert!(video["playback"]["poster"]
        .as_str()
        .unwrap()
        .starts_with(&bucket_url));
    assert_playable_upright(&app, &video, &source).await;
    let (status, _, _) = app.fetch(&format!("{bucket_url}/originals/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "originals stay private");
}

/// What an operator does once for a public bucket: anyone may GET `videos/*` (renditions only,
/// never `originals/`).
async fn allow_anonymous_reads_of_renditions(config: &vitrine::Config) {
    let bucket = config.storage.s3.bucket.clone().unwrap();
    let s3 = crate::common::s3_client(config).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/videos/*"),
        }],
    });
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .expect("setting the bucket policy");
}
