//! Jobs survive their workers: a worker that dies loses its lease and another finishes the job;
//! a worker that is shut down hands its job back.

use std::time::Duration;

use crate::common::{media, test_config, TestApp};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use vitrine::Role;
use vitrine_core::ids::VideoId;
use vitrine_transcode::queue;

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_worker_died_is_finished_by_another_worker() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    // The API alone first: nobody transcodes yet.
    let mut api = TestApp::spawn_with(config.clone(), Role::Api, None).await;
    let (_, token) = api.account("creator", "c").await;
    let created: Value = api
        .upload(&token, &media("mb_1080p-portrait-derotated.mp4"), "x")
        .await
        .json()
        .await
        .unwrap();
    let id: VideoId = created["id"].as_str().unwrap().parse().unwrap();

    // A worker leases the job and dies half-way through publishing: no heartbeat, no result,
    // one object of its attempt left behind.
    let dead = queue::lease(&api.state.db, "doomed-worker", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.video_id, id);
    let stale = format!("videos/{id}/a1/hls/master.m3u8");
    api.state
        .store
        .put_bytes(&stale, "#EXTM3U\n".into(), "application/vnd.apple.mpegurl")
        .await
        .unwrap();

    // A real worker comes up (same machine: same data dir, so the same SQLite file and
    // filesystem store); once the dead lease expires it takes the job over.
    let mut worker = TestApp::spawn_with(config, Role::Worker, None).await;
    let video = api
        .wait_for(id.as_str(), &["ready", "failed"], Duration::from_secs(180))
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    let job = queue::state_of(&api.state.db, &id).await.unwrap().unwrap();
    assert_eq!(
        (job.state.as_str(), job.attempts),
        ("done", 2),
        "the second lease finished it"
    );
    assert!(video["playback"]["hls"].as_str().unwrap().contains("/a2/"));
    let keys = api
        .state
        .store
        .list(&format!("videos/{id}/"))
        .await
        .unwrap();
    assert!(
        !keys.contains(&stale),
        "the dead attempt's leftovers are gone"
    );
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("videos/{id}/a2/"))),
        "{keys:?}"
    );
    worker.stop().await;
    api.stop().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutting_down_mid_transcode_hands_the_job_back_and_a_restart_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.transcode.ladder = vec![720, 360];
    let mut app = TestApp::spawn_with(config.clone(), Role::All, None).await;
    let (_, token) = app.account("creator", "c").await;
    // A 10 s 1080p clip: long enough to catch it mid-job.
    let created: Value = app
        .upload(&token, &media("mp_smpte-2997.mp4"), "long")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let vid: VideoId = id.parse().unwrap();
    // Mid-job means visibly so: processing, with progress moving.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = app.get_video(&id).await;
        let progress = v["progress"].as_f64().unwrap();
        if v["status"] == "processing" && progress > 0.0 {
            assert!(progress < 1.0, "{v}");
            break;
        }
        assert!(
            v["status"] != "ready",
            "finished before we could interrupt it: {v}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "never seen processing: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    app.stop().await; // as on SIGTERM

    // The stopped app closed its pool: look at the database as an operator would.
    let db = vitrine_core::Db::connect(app.config.database_url().expose_secret())
        .await
        .unwrap();
    let job = queue::state_of(&db, &vid).await.unwrap().unwrap();
    assert_eq!(
        (job.state.as_str(), job.attempts),
        ("queued", 0),
        "handed back, attempt not counted"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM videos WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(status, "queued");

    let app = TestApp::spawn_with(config, Role::All, Some(dir)).await;
    let video = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    let (status, _, _) = app.fetch(video["playback"]["hls"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_keeps_failing_on_our_side_is_retried_then_failed_with_a_plain_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path()); // retry backoff 1 s, doubling
    let api = TestApp::spawn_with(config.clone(), Role::Api, None).await;
    let (_, token) = api.account("creator", "c").await;
    let created: Value = api
        .upload(&token, &media("mb_1080p-portrait-derotated.mp4"), "x")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    // The store loses the original (an operator's mistake, a bucket policy): every attempt fails
    // for a reason that is not the creator's file.
    api.state
        .store
        .delete(&vitrine_assets::keys::original(&id))
        .await
        .unwrap();

    let _worker = TestApp::spawn_with(config, Role::Worker, Some(dir)).await;
    let video = api
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(video["status"], "failed", "{video}");
    let reason = video["error"].as_str().unwrap();
    assert!(reason.contains("3 times"), "{reason}");
    assert!(
        !reason.contains("originals/") && !reason.contains("/tmp"),
        "no internals in what the creator sees: {reason}"
    );
    let vid: VideoId = id.parse().unwrap();
    let job = queue::state_of(&api.state.db, &vid).await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("failed", 3));
    assert!(
        job.last_error.unwrap_or_default().contains("not found"),
        "operators keep the cause"
    );
}
