//! Crashes: the server is a child process (`vitrine serve`), killed with SIGKILL in the middle of
//! an upload and started again on the same data dir. What it acknowledged must survive; what it
//! did not may be lost, but the offset it reports is always one the client can resume from, and
//! the stored original ends up byte for byte the file. Also `vitrine upload`, killed with the
//! server, resuming when run again.

use std::{path::Path, process::Command, time::Duration};

use crate::common::{big_video, serve_process, KillOnDrop};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn creator_token(data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["account", "create", "--role", "creator", "--name", "Crash"])
        .env("VITRINE_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let account: Value = serde_json::from_slice(&out.stdout).unwrap();
    account["token"].as_str().unwrap().to_owned()
}

async fn offset_of(client: &reqwest::Client, url: &str) -> Option<u64> {
    let r = client
        .head(url)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .ok()?;
    (r.status() == StatusCode::OK).then(|| {
        r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    })
}

fn stored_original(data_dir: &Path, video_id: &str) -> Vec<u8> {
    std::fs::read(
        data_dir
            .join("objects")
            .join(vitrine_assets::keys::original(video_id)),
    )
    .expect("the original is stored")
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_mid_upload_the_offset_is_durable_and_the_upload_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bytes = std::fs::read(big_video(dir.path(), 9)).unwrap();
    let token = creator_token(&data);
    let (mut server, addr) = serve_process(&data, "api", &[]);
    let client = reqwest::Client::new();

    let r = client
        .post(format!("http://{addr}/v1/uploads"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let path = r.headers()["location"]
        .to_str()
        .unwrap()
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let video_id = r.headers()["video-id"].to_str().unwrap().to_owned();

    // One PATCH whose body we feed by hand: 12 MiB, then silence (a phone entering a tunnel).
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let patch = tokio::spawn({
        let (client, url) = (client.clone(), format!("http://{addr}{path}"));
        async move {
            client
                .patch(url)
                .header("Tus-Resumable", "1.0.0")
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", "0")
                .body(body)
                .send()
                .await
        }
    });
    let sent = 12 * MIB;
    for chunk in bytes[..sent].chunks(256 * 1024) {
        tx.send(Ok(bytes::Bytes::copy_from_slice(chunk)))
            .await
            .unwrap();
    }
    // The server acknowledges (records) the first 8 MiB piece while the rest is in flight.
    let url = format!("http://{addr}{path}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let acknowledged = loop {
        let offset = offset_of(&client, &url).await.unwrap();
        if offset > 0 {
            break offset;
        }
        assert!(std::time::Instant::now() < deadline, "nothing recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(acknowledged <= sent as u64);

    server.kill(); // SIGKILL: no shutdown, no flush, nothing.
    drop(tx);
    let _ = patch.await; // the request died with the server

    let (mut server, addr) = serve_process(&data, "api", &[]);
    let url = format!("http://{addr}{path}");
    let offset = offset_of(&client, &url).await.expect("the upload survived");
    assert!(
        offset >= acknowledged && offset <= sent as u64,
        "offset {offset}: acknowledged {acknowledged}, sent {sent}"
    );
    // The client resumes from there, at once (no lease left behind by the dead server).
    let r = client
        .patch(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(bytes[offset as usize..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);

    let video: Value = client
        .get(format!("http://{addr}/v1/videos/{video_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(sha256(&stored_original(&data, &video_id)), sha256(&bytes));
    server.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn vitrine_upload_killed_with_the_server_resumes_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = big_video(dir.path(), 9);
    let bytes = std::fs::read(&file).unwrap();
    let token = creator_token(&data);
    let state_file = dir.path().join("client-state.json");
    let (mut server, addr) = serve_process(&data, "api", &[]);
    let upload = |base: &str| {
        KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_vitrine"))
                .arg("upload")
                .arg(&file)
                .args(["--server", base, "--no-wait", "--chunk-size", "65536"])
                .arg("--state-file")
                .arg(&state_file)
                .env("VITRINE_TOKEN", &token)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };

    let mut first = upload(&format!("http://{addr}"));
    // Once the upload is under way (its URL remembered, some bytes in), the machine dies.
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let path = loop {
        let remembered: Option<Value> = std::fs::read(&state_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(url) = remembered
            .as_ref()
            .and_then(|m| m.as_object()?.values().next()?.as_str().map(str::to_owned))
        {
            if offset_of(&client, &url).await.unwrap_or(0) >= MIB as u64 {
                break url
                    .split_once("/v1/")
                    .map(|(_, p)| format!("/v1/{p}"))
                    .unwrap();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill();
    first.kill();

    // Back on the same address, as a real server would be.
    let (mut server, addr) = serve_process(&data, "api", &[("VITRINE_BIND", &addr)]);
    let before = offset_of(&client, &format!("http://{addr}{path}"))
        .await
        .unwrap();
    assert!(before > 0 && before < bytes.len() as u64, "{before}");
    let mut second = upload(&format!("http://{addr}"));
    let child = std::mem::replace(&mut second.0, Command::new("true").spawn().unwrap());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("resuming {} from byte {before}", file.display())),
        "{stderr}"
    );
    let video: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(
        sha256(&stored_original(&data, video["id"].as_str().unwrap())),
        sha256(&bytes)
    );
    // Finished uploads are forgotten: nothing left to resume.
    let remembered: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(remembered, serde_json::json!({}));
    server.kill();
}
