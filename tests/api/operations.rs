//! What operators and API clients rely on: health, metrics, the OpenAPI document, the CLI.

use std::{process::Command, time::Duration};

use crate::common::{media, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/videos", "post"),
        ("/v1/videos/{id}", "get"),
        ("/v1/videos/{id}", "delete"),
        ("/v1/products", "post"),
        ("/v1/products/{id}", "get"),
        ("/v1/videos/{id}/tags", "post"),
        ("/v1/videos/{id}/tags", "get"),
        ("/v1/videos/{id}/tags/{tag_id}", "delete"),
        ("/v1/feed", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/v1/auth/signup", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/anonymous", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/logout-all", "post"),
        ("/v1/me", "get"),
        ("/v1/me/creator", "post"),
        ("/v1/me/sessions", "get"),
        ("/v1/me/sessions/{id}", "delete"),
        ("/v1/shops", "post"),
        ("/v1/shops/{id}/members", "post"),
        ("/v1/shops/{id}/members/{account_id}", "delete"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{id}", "delete"),
        ("/v1/admin/accounts", "get"),
        ("/v1/admin/accounts/{id}/suspend", "post"),
        ("/v1/admin/accounts/{id}/restore", "post"),
        ("/v1/shops/{id}/orders", "get"),
        ("/v1/shops/{id}/join", "post"),
        ("/v1/me/invitations", "get"),
        ("/v1/auth/password-reset", "post"),
        ("/v1/auth/password-reset/confirm", "post"),
        ("/v1/auth/verify-email", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["VideoView"].is_object());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "vitrine_session");

    // Every operation that can answer 401 says how to authenticate, and every API key
    // requirement names scopes that exist.
    let scopes = [
        "videos:read",
        "videos:write",
        "products:read",
        "products:write",
        "orders:read",
        "orders:write",
        "analytics:read",
        "events:write",
    ];
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let security = op["security"].as_array().cloned().unwrap_or_default();
            // (Signing in answers 401 for a wrong password, not for a missing credential.)
            if op["responses"].get("401").is_some() && path != "/v1/auth/login" {
                assert!(
                    security.iter().any(|r| r.get("session").is_some()),
                    "{method} {path} answers 401 without a security requirement"
                );
            }
            for requirement in &security {
                if let Some(needed) = requirement.get("api_key") {
                    for scope in needed.as_array().unwrap() {
                        assert!(
                            scopes.contains(&scope.as_str().unwrap()),
                            "{method} {path}: unknown scope {scope}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        paths["/v1/orders"]["post"]["security"][2]["api_key"],
        serde_json::json!(["orders:write"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_upload_bytes_and_the_queue() {
    // The Prometheus recorder is process-wide (other tests in this binary count too), so this
    // compares before and after. The API-only role leaves the job in the queue to be counted.
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(
        crate::common::test_config(dir.path()),
        vitrine::Role::Api,
        Some(dir),
    )
    .await;
    let (_, token) = app.account("creator", "c").await;
    let before = scrape(&app).await;
    let file = media("mb_1080p-portrait-derotated.mp4");
    let r = app.upload(&token, &file, "m").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The queue depth is read at most every few seconds (a scrape storm is not a query storm).
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    let (text, after) = loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let after = parse_metrics(&text);
        if after["vitrine_queue_depth"] == 1.0 || std::time::Instant::now() > deadline {
            break (text, after);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let size = std::fs::metadata(&file).unwrap().len() as f64;
    let uploaded = after["vitrine_upload_bytes_total"]
        - before
            .get("vitrine_upload_bytes_total")
            .copied()
            .unwrap_or(0.0);
    assert!(uploaded >= size, "counted this upload: {uploaded} < {size}");
    assert_eq!(after["vitrine_queue_depth"], 1.0, "{text}");
    let created = r#"vitrine_http_requests_total{method="POST",route="/v1/videos",status="201"}"#;
    assert!(
        after[created] > before.get(created).copied().unwrap_or(0.0),
        "{text}"
    );
}

async fn scrape(app: &TestApp) -> std::collections::HashMap<String, f64> {
    parse_metrics(&app.get("/metrics").await.text().await.unwrap())
}

/// Prometheus text format: `name{labels} value` per line.
fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_creates_accounts_and_uploads_with_the_same_settings_as_the_server() {
    let app = TestApp::spawn().await;
    let bin = env!("CARGO_BIN_EXE_vitrine");
    let data_dir = app.config.storage.data_dir.clone();

    let out = Command::new(bin)
        .args([
            "account",
            "create",
            "--role",
            "creator",
            "--name",
            "Cli Creator",
        ])
        .env("VITRINE_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout}");
    let account: Value = serde_json::from_str(&stdout).unwrap();
    let token = account["token"].as_str().unwrap().to_owned();
    assert!(account["id"].as_str().unwrap().starts_with("acc_"));

    let out = Command::new(bin)
        .args(["account", "create", "--role", "pirate", "--name", "x"])
        .env("VITRINE_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The server, reading the same data dir, accepts that token.
    let upload = tokio::task::spawn_blocking({
        let base = app.base.clone();
        move || {
            Command::new(bin)
                .arg("upload")
                .arg(media("mb_1080p-portrait-derotated.mp4"))
                .args(["--title", "from the cli", "--server", &base])
                .env("VITRINE_TOKEN", &token)
                .env("VITRINE_DATA_DIR", "/nonexistent")
                .output()
                .unwrap()
        }
    });
    let out = tokio::time::timeout(Duration::from_secs(240), upload)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let video: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["title"], "from the cli");
    assert_eq!(video["creator_id"], account["id"]);

    let out = Command::new(bin)
        .arg("migrate")
        .env("VITRINE_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_makes_operators_with_a_password_link_or_a_password_on_stdin() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let bin = env!("CARGO_BIN_EXE_vitrine");
    let data_dir = app.config.storage.data_dir.clone();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(bin)
            .args(args)
            .env("VITRINE_DATA_DIR", &data_dir)
            .env("VITRINE_PUBLIC_URL", &app.base)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let login = |email: &'static str, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
    };

    // With the password on standard input: they sign in at once, as an operator.
    let out = run(
        &[
            "admin",
            "create",
            "--email",
            "Ops@Example.com",
            "--password-stdin",
        ],
        Some("a long operator passphrase\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["email"], "ops@example.com");
    let r = login("ops@example.com", "a long operator passphrase")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["account"]["role"], "admin");
    // A common password is refused; an email taken is refused.
    let out = run(
        &[
            "admin",
            "create",
            "--email",
            "ops2@example.com",
            "--password-stdin",
        ],
        Some("password\n"),
    );
    assert!(!out.status.success());
    let out = run(&["admin", "create", "--email", "ops@example.com"], None);
    assert!(!out.status.success());

    // Without: a one-time link to set the password, which signs them in.
    let out = run(&["admin", "create", "--email", "night@example.com"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = made["password_link"].as_str().unwrap();
    let prefix = format!("{}/reset-password?token=", app.base);
    assert!(link.starts_with(&prefix), "{link}");
    let r = app
        .client
        .post(app.url("/v1/auth/password-reset/confirm"))
        .json(&serde_json::json!({"token": &link[prefix.len()..], "password": "night shift passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = login("night@example.com", "night shift passphrase")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Scripts still make an operator without a password, with a session token.
    let out = run(
        &[
            "account",
            "create",
            "--role",
            "admin",
            "--name",
            "Script Ops",
        ],
        None,
    );
    assert!(out.status.success());
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = app.get_json("/v1/me", made["token"].as_str()).await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = crate::common::serve_process(dir.path(), "all", &[]);
    let child = &mut server.0;
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "graceful exit, got {status}");
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "no longer listening"
    );
}
