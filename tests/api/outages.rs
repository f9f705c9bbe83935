//! Faults in what a deployment shares: the database going away under the API and coming back.
//! A client sees 503 with `Retry-After` while it is gone, never a 500 or a hang, and the API's
//! connection pool finds the database again by itself.

use std::time::{Duration, Instant};

use crate::common::{test_config, PrivatePostgres, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine::Role;

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_answers_503_with_retry_after_and_the_pool_reconnects_by_itself() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.storage.database_url = Some(pg.url().into());
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
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
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop("fast");
        pg
    })
    .await
    .unwrap();
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
    let pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
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
