//! Real tus clients that we did not write, against the real application: tus-js-client under
//! Node.js and tuspy under Python (installed by `scripts/setup.sh --test`). Each scenario runs
//! the client as a child process (`tests/tus/*`), which prints what it saw; the test then checks
//! the server's side: the stored original's SHA-256, the video, the upload's offset.

use std::path::{Path, PathBuf};

use crate::common::{media, test_config, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use vitrine::Role;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tus")
        .join(name)
}

async fn api() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    TestApp::spawn_with(config, Role::Api, Some(dir)).await
}

/// Runs `program script mode endpoint token file` and parses the JSON line it prints.
async fn client(program: &str, script_name: &str, mode: &str, app: &TestApp, file: &Path) -> Value {
    // Each scenario is its own creator, so identical files are not recognised as duplicates.
    let (_, token) = app.account("creator", mode).await;
    let output = tokio::process::Command::new(program)
        .arg(script(script_name))
        .arg(mode)
        .arg(app.url("/v1/uploads"))
        .arg(&token)
        .arg(file)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/setup.sh --test): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} {script_name} {mode} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload_offset(app: &TestApp, url: &str) -> (StatusCode, Option<u64>) {
    let r = app
        .client
        .head(url)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    let offset = r
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status(), offset)
}

/// The finished upload's video is queued and its stored original is the file, byte for byte.
async fn assert_stored_whole(app: &TestApp, result: &Value, file: &Path) {
    assert_eq!(result["success"], true, "{result}");
    let video_id = result["videoId"]
        .as_str()
        .expect("the Video-Id header was read");
    let video = app.get_video(video_id).await;
    assert_eq!(video["status"], "queued", "{video}");
    let stored = app
        .state
        .store
        .get_bytes(&vitrine_assets::keys::original(
            video["id"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(sha256(&stored), sha256(&std::fs::read(file).unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn tus_js_client_uploads_resumes_verifies_checksums_concatenates_and_terminates() {
    let app = api().await;
    let file = media("mb_rotate-buck-bunny.mp4");
    let size = std::fs::metadata(&file).unwrap().len();
    let node = |mode: &'static str| client("node", "js_client.mjs", mode, &app, &file);

    let plain = node("plain").await;
    assert_stored_whole(&app, &plain, &file).await;

    // Aborted half-way, then a new Upload object resumes from the server's offset.
    let resumed = node("resume").await;
    assert_eq!(resumed["cut"]["aborted"], true, "{resumed}");
    let from = resumed["resumedFrom"]
        .as_u64()
        .expect("a HEAD before resuming");
    assert!(from > 0 && from < size, "resumed from {from} of {size}");
    assert_stored_whole(&app, &resumed, &file).await;

    // A wrong checksum on every PATCH: 460, and nothing stored.
    let mismatch = node("checksum-mismatch").await;
    assert_eq!(mismatch["status"], 460, "{mismatch}");
    let (status, offset) = upload_offset(&app, mismatch["url"].as_str().unwrap()).await;
    assert_eq!((status, offset), (StatusCode::OK, Some(0)));

    // parallelUploads: partial uploads plus a final one (the concatenation extension).
    let parallel = node("parallel").await;
    assert!(
        parallel["url"]
            .as_str()
            .unwrap()
            .contains("/v1/uploads/upl_"),
        "{parallel}"
    );
    assert_stored_whole(&app, &parallel, &file).await;

    let terminated = node("terminate").await;
    assert_eq!(terminated["terminated"], true);
    let (status, _) = upload_offset(&app, terminated["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!(
            "/v1/videos/{}",
            terminated["videoId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_uploads_with_checksums_resumes_and_sees_a_mismatch_refused() {
    let app = api().await;
    let file = media("mb_1080p-portrait-derotated.mp4");
    let size = std::fs::metadata(&file).unwrap().len();
    let python = |mode: &'static str| client("python3", "py_client.py", mode, &app, &file);

    // Every PATCH carries a sha1 Upload-Checksum, verified by the server.
    let plain = python("plain").await;
    assert_eq!(plain["offset"], size);
    assert_stored_whole(&app, &plain, &file).await;

    let resumed = python("resume").await;
    let from = resumed["resumedFrom"].as_u64().unwrap();
    assert!(
        from >= size / 2 && from < size,
        "resumed from {from} of {size}"
    );
    assert_stored_whole(&app, &resumed, &file).await;

    let mismatch = python("checksum-mismatch").await;
    assert_eq!(mismatch["status"], 460, "{mismatch}");
    let (_, offset) = upload_offset(&app, mismatch["url"].as_str().unwrap()).await;
    assert_eq!(offset, Some(0));
}
