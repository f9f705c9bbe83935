//! The hostile-client suite, bounded in count and time and on loopback only: idle and half-sent
//! connections, a connection flood, more requests at once than the server answers, one viewer's
//! event flood, an order spree across two API processes, and numbers too big to add up.
//!
//! (About 1,000 lines: one hostile client per test, each with its own raw-socket or process
//! setup.)

use std::time::{Duration, Instant};

use crate::common::{assert_error, fresh_postgres_url, test_config, DbKind, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use vitrine::Role;

async fn app_with(db: DbKind, configure: impl FnOnce(&mut vitrine::Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(fresh_postgres_url().await.into());
    }
    configure(&mut config);
    TestApp::spawn_with(config, Role::Api, Some(dir)).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Waits for the server to close `stream` (end of file or reset), for at most `within`.
async fn closed_within(mut stream: TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // Whatever the server said before closing (a 408, say): keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_dropped_while_a_normal_client_is_answered() {
    let app = app_with(DbKind::Sqlite, |c| {
        c.server.header_read_timeout = Duration::from_secs(2);
        c.server.idle_timeout = Duration::from_secs(3);
    })
    .await;
    let address = addr(&app);

    // 1,000 connections that never say a word and 1,000 that stop half-way through their
    // headers (slowloris).
    let mut hostile = Vec::new();
    for i in 0..2_000 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /v1/products HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        hostile.push(stream);
    }

    // Meanwhile a normal client, on its own connections, is answered at once.
    let normal = reqwest::Client::new();
    for _ in 0..20 {
        let started = Instant::now();
        let r = normal.get(app.url("/v1/products")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a normal request took {:?} beside 2,000 hostile connections",
            started.elapsed()
        );
    }

    // And the hostile ones are closed by the header-read timeout.
    let closes = hostile
        .into_iter()
        .map(|s| closed_within(s, Duration::from_secs(10)));
    let closed = futures::future::join_all(closes).await;
    let still_open = closed.iter().filter(|c| !**c).count();
    assert_eq!(still_open, 0, "connections the server never closed");

    // A keep-alive connection that goes quiet after an answer is closed too.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_within(stream, Duration::from_secs(10)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_turned_away_with_a_503() {
    let app = app_with(DbKind::Sqlite, |c| {
        c.server.max_connections = 50;
        c.server.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let address = addr(&app);
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    // Let the server accept all 50 before the 51st arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(&address).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("the extra connection is answered and closed at once")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains(r#""code":"overloaded""#), "{answer}");

    // Once they go, everyone is served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = reqwest::Client::new()
            .get(app.url("/v1/products"))
            .send()
            .await;
        if matches!(&r, Ok(r) if r.status() == StatusCode::OK) {
            break;
        }
        assert!(Instant::now() < deadline, "not served again: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("vitrine_connections_refused_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_cap_are_shed_with_retry_after() {
    let app = app_with(DbKind::Sqlite, |c| c.server.max_in_flight = 2).await;
    let (_, creator) = app.account("creator", "Slow Uploader").await;

    // Two uploads whose bodies never finish hold both places.
    let stall = || {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        tx.try_send(Ok(vec![0u8; 1024])).unwrap();
        let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let request = app
            .client
            .post(app.url("/v1/videos?title=slow"))
            .bearer_auth(&creator)
            .header("content-type", "video/mp4")
            .body(body)
            .send();
        (tx, tokio::spawn(request))
    };
    let mut stalled = vec![stall(), stall()];
    // On a busy machine they may take a while to arrive, and one may arrive while a probe holds
    // a place (and be shed itself): then it is sent again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shed = loop {
        for slot in stalled.iter_mut() {
            if slot.1.is_finished() {
                let ended = (&mut slot.1).await.unwrap().unwrap();
                assert_eq!(
                    ended.status(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a stalled upload ended"
                );
                *slot = stall();
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = reqwest::Client::new()
            .get(app.url("/v1/products"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            break r;
        }
        assert!(Instant::now() < deadline, "never shed: {}", r.status());
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_error(shed, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
    // The load balancer still sees a live process.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    // The stalled uploads end (their clients give up): the places come back.
    for (tx, request) in stalled {
        drop(tx);
        let _ = request.await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app.get("/v1/products").await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "still shedding: {}", r.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_cut_off_by_the_request_timeout() {
    // A table lock makes the next read wait; the request deadline answers first.
    let app = app_with(DbKind::Postgres, |c| {
        c.server.request_timeout = Duration::from_secs(1)
    })
    .await;
    let (_, merchant) = app.account("merchant", "Locked Shop").await;
    let mut blocker = app.state.db.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let started = Instant::now();
    let r = app
        .client
        .get(app.url("/v1/products"))
        .bearer_auth(&merchant)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    blocker.rollback().await.unwrap();
    let r = app.get("/v1/products").await;
    assert_eq!(r.status(), StatusCode::OK);
}

fn events(viewer: &str, video: &str, from: usize, n: usize) -> Value {
    Value::Array(
        (from..from + n)
            .map(|i| json!({"id": format!("e-{i}"), "viewer_id": viewer, "video_id": video, "type": "impression"}))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewers_event_flood_is_refused_while_another_viewer_is_heard() {
    let app = app_with(DbKind::Sqlite, |_| {}).await;
    let (creator, _) = app.account("creator", "Clipper").await;
    let clip = app.ready_clips(&creator, 1, 15_000).await.remove(0);
    app.refresh_feed().await;
    let flooder = app.account("viewer", "Flooder").await;
    let calm = app.account("viewer", "Calm").await;

    // 10,000 events in batches of 100, as fast as the server answers.
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut last_refusal = None;
    for batch in 0..100 {
        let r = app
            .client
            .post(app.url("/v1/events"))
            .bearer_auth(&flooder.1)
            .json(&json!({"events": events(&flooder.0, &clip, batch * 100, 100)}))
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::OK => {
                assert!(r.headers().contains_key("ratelimit"), "{:?}", r.headers());
                assert!(r.headers().contains_key("ratelimit-policy"));
                let body: Value = r.json().await.unwrap();
                accepted += body["accepted"].as_u64().unwrap() as usize;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                last_refusal = Some(r);
            }
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
    }
    assert!(
        (1_000..2_000).contains(&accepted),
        "the burst (1,000 events) and a little refill, not the flood: {accepted}"
    );
    assert!(refused >= 80, "{refused} batches refused");
    let refusal = last_refusal.unwrap();
    let retry_after: u64 = refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let limit = refusal.headers()["ratelimit"].to_str().unwrap().to_owned();
    assert!(limit.contains("r=0"), "{limit}");
    assert_error(refusal, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The other viewer, from the same address, is heard.
    let body = app.events(&calm.1, events(&calm.0, &clip, 0, 100)).await;
    assert_eq!(body["accepted"], 100, "{body}");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE viewer_id = $1")
        .bind(&flooder.0)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored as usize, accepted, "a refused batch stores nothing");
}

async fn place(
    app: &TestApp,
    buyer: &(String, String),
    product: &str,
    key: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/orders"))
        .bearer_auth(&buyer.1)
        .header("Idempotency-Key", key)
        .json(&json!({"viewer_id": buyer.0, "items": [{"product_id": product, "quantity": 1}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_per_hour_hold_across_api_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.storage.database_url = Some(fresh_postgres_url().await.into());
    config.server.rate_limits.orders_per_hour = 3;
    let first = TestApp::spawn_with(config.clone(), Role::Api, None).await;
    let second = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (_, merchant) = first.account("merchant", "Lamp Shop").await;
    let r = first
        .client
        .post(first.url("/v1/products"))
        .bearer_auth(&merchant)
        .json(&json!({"title": "Lamp", "price": {"amount_minor": 4999, "currency": "USD"}, "stock": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let lamp = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let buyer = first.account("viewer", "Spree").await;
    let other = first.account("viewer", "Someone Else").await;

    for (app, key) in [(&first, "a"), (&second, "b"), (&first, "c")] {
        assert_eq!(
            place(app, &buyer, &lamp, key).await.status(),
            StatusCode::CREATED
        );
    }
    // The fourth in the hour, through the other process.
    let r = place(&second, &buyer, &lamp, "d").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // A retry of an order already placed is still answered (idempotency), and others buy on.
    assert_eq!(
        place(&second, &buyer, &lamp, "a").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        place(&first, &other, &lamp, "x").await.status(),
        StatusCode::CREATED
    );
}

async fn prices_and_sums_that_cannot_overflow(db: DbKind) {
    let mut app = app_with(db, |_| {}).await;
    let (_, merchant) = app.account("merchant", "Big Numbers").await;
    let too_dear = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant)
        .json(&json!({"title": "Lamp", "price": {"amount_minor": 1_000_000_001i64, "currency": "USD"}, "stock": 1}))
        .send()
        .await
        .unwrap();
    let body = assert_error(
        too_dear,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_product",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most"),
        "{body}"
    );
    let r = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant)
        .json(&json!({"title": "Lamp", "price": {"amount_minor": 1_000_000_000i64, "currency": "USD"}, "stock": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let lamp = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shop = app.shop_of(&merchant).await;

    // Rows from before the bound (or written by hand) whose GMV no 64-bit sum can hold.
    let (creator, _) = app.account("creator", "Seller").await;
    let (buyer, _) = app.account("viewer", "Buyer").await;
    let clip = app.ready_clips(&creator, 1, 15_000).await.remove(0);
    let tagged = app.tag(&merchant, &clip, &lamp, 0, 5_000).await;
    assert_eq!(tagged.status(), StatusCode::CREATED);
    let pool = app.state.db.pool();
    for i in 0..3 {
        let order = format!("ord_overflow{i}");
        sqlx::query(
            "INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, status, currency, \
             total_minor, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $1, 'x', 'paid', 'USD', $3, 0, 0, 0)",
        )
        .bind(&order)
        .bind(&buyer)
        .bind(i64::MAX / 2)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO order_attributions (order_id, position, product_id, video_id, tag_id, \
             creator_id, units, gmv_minor, commission_minor, currency) \
             VALUES ($1, 0, $2, $3, 'tag_x', $4, 1, $5, $5, 'USD')",
        )
        .bind(&order)
        .bind(&lamp)
        .bind(&clip)
        .bind(&creator)
        .bind(i64::MAX / 2)
        .execute(pool)
        .await
        .unwrap();
    }
    let sales = vitrine_shop::attribution::sales_by_video(&app.state.db)
        .await
        .expect("the sum is taken wide");
    assert_eq!(
        sales,
        vec![(clip.clone(), "USD".to_owned(), 3, i64::MAX)],
        "saturated, not wrapped"
    );
    app.refresh_feed().await;
    let stats = app
        .get_json(&format!("/v1/shops/{shop}/analytics"), Some(&merchant))
        .await;
    let row = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["video_id"] == clip.as_str())
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(row["gmv"]["amount_minor"], i64::MAX, "{row}");
    assert_eq!(row["units"], 3, "{row}");

    // And a process starts on that database again.
    if db == DbKind::Postgres {
        let config = app.config.clone();
        app.stop().await;
        let again = TestApp::spawn_with(config, Role::Api, None).await;
        assert_eq!(again.feed("limit=5").await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_and_sums_that_cannot_overflow_sqlite() {
    prices_and_sums_that_cannot_overflow(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_and_sums_that_cannot_overflow_postgres() {
    prices_and_sums_that_cannot_overflow(DbKind::Postgres).await;
}

/// Resident and peak memory of a process, in bytes (`VmRSS`, `VmHWM`).
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_pixel(width, height, image::Luma([128]));
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_picture_is_refused_from_its_header_without_the_server_growing() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "account",
            "create",
            "--role",
            "merchant",
            "--name",
            "Poster Shop",
        ])
        .env("VITRINE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let merchant = serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (server, addr) = crate::common::serve_process(dir.path(), "api", &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/v1/products"))
        .bearer_auth(&merchant)
        .json(&json!({"title": "Poster", "price": {"amount_minor": 1500, "currency": "EUR"}, "stock": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let product = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("http://{addr}/v1/products/{product}/images");

    let (before, _) = memory_of(server.0.id());
    // 49 megapixels, and 27 (just over the default 25).
    for (width, height) in [(7_000, 7_000), (6_000, 4_500)] {
        let r = client
            .post(&url)
            .bearer_auth(&merchant)
            .header("content-type", "image/png")
            .body(grey_png(width, height))
            .send()
            .await
            .unwrap();
        let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "image_too_large").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{width}x{height}")),
            "{body}"
        );
    }
    let (_, peak) = memory_of(server.0.id());
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 100 * 1024 * 1024,
        "the server grew by {} MB",
        grown / 1024 / 1024
    );
    // A picture within the limit is still taken.
    let r = client
        .post(&url)
        .bearer_auth(&merchant)
        .header("content-type", "image/png")
        .body(grey_png(800, 600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// A NUL character in any text is refused with 422 on both databases (PostgreSQL cannot store
/// one; SQLite would), and nothing is stored.
async fn text_with_a_nul_character_is_refused(db: DbKind) {
    let app = app_with(db, |_| {}).await;
    let (_, merchant) = app.account("merchant", "Nul Shop").await;
    let (creator_id, creator) = app.account("creator", "Nul Maker").await;
    let viewer = app.account("viewer", "Nul Viewer").await;
    let clip = app.ready_clips(&creator_id, 1, 10_000).await.remove(0);

    let post_json = |path: &str, token: &str, body: String| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        r#"{"title": "Lamp\u0000", "price": {"amount_minor": 100, "currency": "USD"}, "stock": 1}"#,
        r#"{"title": "Lamp", "description": "bright\u0000", "price": {"amount_minor": 100, "currency": "USD"}, "stock": 1}"#,
    ] {
        let r = post_json("/v1/products", &merchant, body.to_owned())
            .await
            .unwrap();
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    let r = post_json(
        "/v1/events",
        &viewer.1,
        format!(
            r#"{{"events": [{{"id": "e\u00001", "viewer_id": "{}", "video_id": "{clip}", "type": "like"}}]}}"#,
            viewer.0
        ),
    )
    .await
    .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    // An escaped backslash before "u0000" is not a NUL: that text is fine.
    let r = post_json(
        "/v1/products",
        &merchant,
        r#"{"title": "C:\\u0000 lamp", "price": {"amount_minor": 100, "currency": "USD"}, "stock": 1}"#.to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = app
        .client
        .post(app.url("/v1/videos?title=a%00b"))
        .bearer_auth(&creator)
        .header("content-type", "video/mp4")
        .body(std::fs::read(crate::common::media("mb_rotate-buck-bunny.mp4")).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    use base64::Engine;
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "1000")
        .header(
            "Upload-Metadata",
            format!(
                "title {}",
                base64::engine::general_purpose::STANDARD.encode("a\0b")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;

    let products: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(products, 1, "only the valid product");
    let videos: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM videos")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(videos, 1, "only the clip written for the test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_a_nul_character_is_refused_sqlite() {
    text_with_a_nul_character_is_refused(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_a_nul_character_is_refused_postgres() {
    text_with_a_nul_character_is_refused(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dear_product_cannot_buy_the_commerce_term_and_currencies_compare_fairly() {
    let app = app_with(DbKind::Sqlite, |_| {}).await;
    let (creator_id, creator) = app.account("creator", "Mia").await;
    let (_, merchant) = app.account("merchant", "Everything Co").await;
    let clips = app.ready_clips(&creator_id, 2, 30_000).await;
    let mut tagged = Vec::new();
    for (clip, price, currency) in [
        (&clips[0], 1_000_000_000i64, "USD"),
        (&clips[1], 5_000, "JPY"),
    ] {
        let r = app
            .client
            .post(app.url("/v1/products"))
            .bearer_auth(&merchant)
            .json(&json!({"title": "Thing", "price": {"amount_minor": price, "currency": currency}, "stock": 5, "commission_bps": 500}))
            .send()
            .await
            .unwrap();
        let product = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app.tag(&creator, clip, &product, 0, 1_000).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        tagged.push(product);
    }
    let cfg = vitrine_feed::RankConfig::default();
    let sales = vitrine_feed::store::sales(&app.state.db, &cfg)
        .await
        .unwrap();
    let lamp = sales.selling[&clips[0]].price;
    assert_eq!(lamp, cfg.max_commerce_price, "ten million dollars, capped");
    let yen = sales.selling[&clips[1]].price;
    assert!(
        (yen - 33.0).abs() < 1e-6,
        "5,000 yen, not 50 of anything: {yen}"
    );
}

async fn tus_create(app: &TestApp, token: &str, length: u64) -> reqwest::Response {
    app.client
        .post(app.url("/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creators_unfinished_uploads_are_bounded() {
    let app = app_with(DbKind::Sqlite, |c| {
        c.uploads.max_unfinished = 2;
        c.uploads.max_unfinished_bytes = 5_000;
    })
    .await;
    let (_, creator) = app.account("creator", "Prolific").await;
    let (_, other) = app.account("creator", "Calm").await;
    let r = tus_create(&app, &creator, 6_000).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "unfinished_bytes_quota").await;
    for _ in 0..2 {
        assert_eq!(
            tus_create(&app, &creator, 1_000).await.status(),
            StatusCode::CREATED
        );
    }
    let r = tus_create(&app, &creator, 1_000).await;
    assert_error(
        r,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unfinished_uploads",
    )
    .await;
    // Someone else is not held up by it.
    assert_eq!(
        tus_create(&app, &other, 1_000).await.status(),
        StatusCode::CREATED
    );

    // Cancelling one makes room again.
    let r = tus_create(&app, &other, 1_000).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let r = tus_create(&app, &other, 1_000).await;
    assert_error(
        r,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unfinished_uploads",
    )
    .await;
    let r = app
        .client
        .delete(&location)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        tus_create(&app, &other, 1_000).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creators_uploads_per_day_are_bounded() {
    let app = app_with(DbKind::Sqlite, |c| c.uploads.max_per_day = 2).await;
    let (_, creator) = app.account("creator", "Daily").await;
    for clip in [
        "mb_rotate-buck-bunny.mp4",
        "mb_1080p-portrait-derotated.mp4",
    ] {
        let r = app
            .upload(&creator, &crate::common::media(clip), clip)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Deleting one does not give its place back: uploading is what is counted.
    let mine = app.get_json("/v1/creators/me/videos", Some(&creator)).await;
    let first = mine["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&format!("/v1/videos/{first}"), &creator)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let r = app
        .upload(
            &creator,
            &crate::common::media("mp4ff_bbb_prog_10s.mp4"),
            "third",
        )
        .await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((86_000..=86_400).contains(&retry_after), "{retry_after}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "daily_upload_limit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creators_daily_minutes_are_bounded() {
    let app = app_with(DbKind::Sqlite, |c| c.uploads.max_minutes_per_day = 0).await;
    let (_, creator) = app.account("creator", "Long Takes").await;
    let r = app
        .upload(
            &creator,
            &crate::common::media("mb_rotate-buck-bunny.mp4"),
            "over",
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "daily_minutes_limit").await;
    let videos: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM videos")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(videos, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_uploads_are_refused_before_the_disk_runs_short() {
    // A floor no disk here can stand above.
    let app = app_with(DbKind::Sqlite, |c| c.uploads.min_free_disk_bytes = 1 << 60).await;
    let (_, creator) = app.account("creator", "Full Disk").await;
    let r = app
        .upload(
            &creator,
            &crate::common::media("mb_rotate-buck-bunny.mp4"),
            "x",
        )
        .await;
    assert_error(r, StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage").await;
    let r = tus_create(&app, &creator, 1_000).await;
    assert_error(r, StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage").await;
    let spooled = std::fs::read_dir(app.config.storage.data_dir.join("spool"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(spooled, 0, "nothing was spooled");
}

/// Bytes in the files directly under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksummed_patches_cannot_spool_more_than_their_bound() {
    let app = app_with(DbKind::Sqlite, |_| {}).await;
    let (_, creator) = app.account("creator", "Big Sender").await;
    let gib = 1u64 << 30;
    let mut uploads = Vec::new();
    for _ in 0..10 {
        let r = tus_create(&app, &creator, gib).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        uploads.push(r.headers()["location"].to_str().unwrap().to_owned());
    }
    let spool = app.config.storage.data_dir.join("spool");
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let (spool, peak) = (spool.clone(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(dir_bytes(&spool), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let digest = format!("sha256 {}", "A".repeat(43) + "=");
    // A 1 GiB checksummed PATCH, with its length announced or not.
    let patch = |url: &String, announce: bool| {
        let mut request = app
            .client
            .patch(url)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .header("Upload-Checksum", digest.clone());
        if announce {
            request = request.header("Content-Length", (1u64 << 30).to_string());
        }
        let body =
            futures::stream::iter((0..1024).map(|_| Ok::<_, std::io::Error>(vec![7u8; 1 << 20])));
        async move {
            request
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .map(|r| r.status())
        }
    };
    // Twenty that say so are refused before a byte is read; three that stream without a length
    // are cut off at the bound. The server answers 413; a client still sending may see the
    // connection reset instead.
    let announced = uploads.iter().cycle().take(20).map(|url| patch(url, true));
    let streamed = uploads.iter().take(3).map(|url| patch(url, false));
    for batch in [
        futures::future::join_all(announced).await,
        futures::future::join_all(streamed).await,
    ] {
        for status in batch.into_iter().flatten() {
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
    watcher.abort();
    let bound = vitrine_ingest::tus::MAX_CHECKSUMMED_BODY;
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak <= 3 * (bound + (1 << 20)),
        "the spool peaked at {} MiB",
        peak >> 20
    );
    assert_eq!(dir_bytes(&spool), 0, "and nothing is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creators_uploads_in_progress_count_among_the_unfinished_ones() {
    let app = app_with(DbKind::Sqlite, |c| c.uploads.max_unfinished = 1).await;
    let (_, creator) = app.account("creator", "Busy Phone").await;
    // A single-request upload whose body is still arriving holds the creator's one place.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(vec![0u8; 1024])).await.unwrap();
    let stalled = {
        let request = app
            .client
            .post(app.url("/v1/videos?title=slow"))
            .bearer_auth(&creator)
            .header("content-type", "video/mp4")
            .body(reqwest::Body::wrap_stream(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ))
            .send();
        tokio::spawn(request)
    };
    let clip = crate::common::media("mb_rotate-buck-bunny.mp4");
    // Once the server is receiving it (on a busy machine that can take a moment)…
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .state
        .limits
        .uploads_in_flight
        .lock()
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the stalled upload never arrived (ended: {})",
            stalled.is_finished()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …another upload of the creator's is refused.
    let refused = app.upload(&creator, &clip, "second").await;
    assert_error(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unfinished_uploads",
    )
    .await;
    let r = tus_create(&app, &creator, 1_000).await;
    assert_error(
        r,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unfinished_uploads",
    )
    .await;
    // The phone gives up: the place comes back.
    drop(tx);
    let _ = stalled.await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.upload(&creator, &clip, "again").await;
        if r.status() == StatusCode::CREATED || r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no place came back: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The idle timeout is for connections nobody uses, not for a request whose answer takes a
/// while: a client waiting quietly for a slow answer gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_outlives_the_idle_timeout() {
    let app = app_with(DbKind::Postgres, |c| {
        c.server.idle_timeout = Duration::from_secs(1);
        c.server.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut blocker = app.state.db.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let request = tokio::spawn(reqwest::Client::new().get(app.url("/v1/products")).send());
    tokio::time::sleep(Duration::from_secs(3)).await;
    blocker.rollback().await.unwrap();
    let r = request.await.unwrap().expect("answered, not cut off");
    assert_eq!(r.status(), StatusCode::OK);
}
