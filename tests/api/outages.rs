//! Faults in what a deployment shares: the database going away under the API and coming back.
//! A client sees 503 with `Retry-After` while it is gone, never a 500 or a hang, and the API's
//! connection pool finds the database again by itself.

use std::time::{Duration, Instant};

use crate::common::{test_config, PrivatePostgres, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine::Role;

/// The app, in `role`, on a PostgreSQL of the test's own.
async fn app_on_own_postgres(role: Role) -> (PrivatePostgres, TestApp) {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.storage.database_url = Some(pg.url().into());
    let app = TestApp::spawn_with(config, role, Some(dir)).await;
    (pg, app)
}

/// `pg` stopped as a restart stops it (fast shutdown: every client is disconnected).
async fn stopped(pg: PrivatePostgres) -> PrivatePostgres {
    tokio::task::spawn_blocking(move || {
        pg.stop("fast");
        pg
    })
    .await
    .unwrap()
}

/// `pg` started again.
async fn started(pg: PrivatePostgres) -> PrivatePostgres {
    tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_answers_503_with_retry_after_and_the_pool_reconnects_by_itself() {
    let (pg, app) = app_on_own_postgres(Role::Api).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let lamp = app
        .product(
            &merchant,
            json!({"title": "Lamp", "price": {"amount_minor": 2500, "currency": "USD"}, "stock": 3}),
        )
        .await;
    let lamp_path = format!("/v1/products/{}", lamp["id"].as_str().unwrap());
    let read = || {
        app.client
            .get(app.url(&lamp_path))
            .bearer_auth(&merchant)
            .send()
    };
    let write = |title: &str| {
        app.client
            .post(app.url("/v1/products"))
            .bearer_auth(&merchant)
            .json(&json!({"title": title, "price": {"amount_minor": 900, "currency": "USD"}, "stock": 1}))
            .send()
    };
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);

    // A restart's first half: the server shuts down, disconnecting every client.
    let pg = stopped(pg).await;
    for (what, request) in [("a read", read().await), ("a write", write("Shade").await)] {
        let started = Instant::now();
        let r = request.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{what} while the database is down"
        );
        assert!(
            r.headers().contains_key("retry-after"),
            "{what}: 503 without Retry-After"
        );
        let body: Value = r.json().await.unwrap();
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            ["unavailable", "busy"].contains(&code),
            "{what}: unexpected error {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what} held the client {:?} before refusing it",
            started.elapsed()
        );
    }

    // Its second half: the server is back; nobody restarts the API.
    let pg = started(pg).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = read().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline,
            "the API did not find the database again: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing the gap refused was half-written, and writes work again.
    let r = write("Shade").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let shop = app.shop_of(&merchant).await;
    let mine = app
        .get_json(&format!("/v1/products?shop_id={shop}"), Some(&merchant))
        .await;
    let titles: Vec<&str> = mine["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|p| p["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        titles.iter().filter(|t| **t == "Shade").count(),
        1,
        "{mine}"
    );
    assert!(titles.contains(&"Lamp"), "{mine}");
    drop(pg);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upload_command_waits_out_a_database_restart() {
    let (pg, app) = app_on_own_postgres(Role::All).await;
    let (creator, token) = app.account("creator", "Mia").await;
    let state = tempfile::tempdir().unwrap();

    // The database goes away before the upload starts, and comes back once the command has
    // been refused and said it retries.
    let pg = stopped(pg).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("upload")
        .arg(crate::common::media("mb_rotate-buck-bunny.mp4"))
        .args(["--title", "through the restart", "--server", &app.base])
        .arg("--state-file")
        .arg(state.path().join("uploads.json"))
        .env("VITRINE_TOKEN", &token)
        .env("VITRINE_DATA_DIR", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (retried, told) = tokio::sync::oneshot::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut told = Some(retried);
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("retrying") {
                if let Some(tx) = told.take() {
                    let _ = tx.send(());
                }
            }
            lines.push(line);
        }
        lines
    });
    tokio::time::timeout(Duration::from_secs(60), told)
        .await
        .expect("the command was never refused while the database was down")
        .expect("the command ended without retrying");
    let pg = started(pg).await;

    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .expect("the upload command hung")
    .unwrap();
    let stderr = reader.join().unwrap().join("\n");
    assert!(out.status.success(), "{stderr}");
    let video: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["creator_id"], creator.as_str());
    drop(pg);
}
