//! Checkout over real HTTP: stock never oversold under 200 concurrent buyers (SQLite and
//! PostgreSQL), idempotent orders, the payment lifecycle with the test provider, expiry of unpaid
//! orders, and bad input refused with nothing written.

use std::time::Duration;

use crate::common::{assert_error, fresh_postgres_url, test_config, DbKind, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine::Role;

const THIRTY_MINUTES: Duration = Duration::from_secs(30 * 60);

async fn app(db: DbKind, order_expiry: Duration) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.shop.order_expiry = order_expiry;
    // These buyers retry, race and pay twice on purpose: budgets are `hardening.rs`'s subject.
    config.server.rate_limits.orders = vitrine_api::rate::Rate {
        per_minute: 6_000,
        burst: 1_000,
    };
    if db == DbKind::Postgres {
        config.storage.database_url = Some(fresh_postgres_url().await.into());
    }
    TestApp::spawn_with(config, Role::Api, Some(dir)).await
}

async fn order(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn act(
    app: &TestApp,
    token: &str,
    order: &str,
    what: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/orders/{order}/{what}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `POST /v1/orders/{order}/pay` with a payment-method token.
async fn pay(app: &TestApp, token: &str, order: &str, method: &str) -> reqwest::Response {
    act(
        app,
        token,
        order,
        "pay",
        Some(json!({ "payment_method": method })),
    )
    .await
}

async fn stock(app: &TestApp, product: &str) -> i64 {
    let p: Value = app
        .get(&format!("/v1/products/{product}"))
        .await
        .json()
        .await
        .unwrap();
    p["stock"].as_i64().unwrap()
}

async fn two_hundred_buyers_for_the_last_ten_units(db: DbKind) {
    let app = app(db, THIRTY_MINUTES).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let balm = app.product(&merchant,
        json!({"title": "Balm", "price": {"amount_minor": 1299, "currency": "USD"}, "stock": 10}),
    )
    .await;
    let balm_id = balm["id"].as_str().unwrap().to_owned();
    let mut buyers = Vec::new();
    for i in 0..200 {
        buyers.push(app.account("viewer", &format!("buyer {i}")).await);
    }

    let attempts = buyers.iter().enumerate().map(|(i, (id, token))| {
        let body = json!({"viewer_id": id, "items": [{"product_id": balm_id, "quantity": 1}]});
        let app = &app;
        async move {
            let r = order(app, token, Some(&format!("key-{i}")), &body).await;
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }
    });
    let results = futures::future::join_all(attempts).await;

    let placed = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let sold_out = results
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "out_of_stock")
        .count();
    let others: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED && *s != StatusCode::CONFLICT)
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert_eq!((placed, sold_out), (10, 190));
    assert_eq!(stock(&app, &balm_id).await, 0);
    let units: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM order_items WHERE product_id = $1",
    )
    .bind(&balm_id)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(units, 10, "exactly the stock was sold");
}

/// A lamp (no stock of its own) with a red variant (5 in stock, €45) sold by Glow Co, and a
/// viewer, Ana, with an order body for two red lamps and one for one.
struct Lamp {
    merchant: String,
    viewer: String,
    id: String,
    two: Value,
    one: Value,
}

impl Lamp {
    async fn on(app: &TestApp) -> Lamp {
        let (_, merchant) = app.account("merchant", "Glow Co").await;
        let (viewer_id, viewer) = app.account("viewer", "Ana").await;
        let lamp = app.product(&merchant,
            json!({"title": "Lamp", "price": {"amount_minor": 4000, "currency": "EUR"}, "stock": 0,
                   "variants": [{"sku": "RED", "price": {"amount_minor": 4500, "currency": "EUR"}, "stock": 5}]}),
        )
        .await;
        let id = lamp["id"].as_str().unwrap().to_owned();
        let red = lamp["variants"][0]["id"].as_str().unwrap();
        let line = |quantity: i64| json!({"viewer_id": viewer_id, "items": [{"product_id": id, "variant_id": red, "quantity": quantity}]});
        Lamp {
            two: line(2),
            one: line(1),
            merchant,
            viewer,
            id,
        }
    }

    /// The red variant's stock now.
    async fn red_stock(&self, app: &TestApp) -> i64 {
        let p: Value = app
            .get(&format!("/v1/products/{}", self.id))
            .await
            .json()
            .await
            .unwrap();
        p["variants"][0]["stock"].as_i64().unwrap()
    }

    /// An order for `body` under `key`, placed; its id.
    async fn placed(&self, app: &TestApp, key: &str, body: &Value) -> String {
        let r = order(app, &self.viewer, Some(key), body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        crate::common::id_of(r).await
    }

    /// An order for two, placed and paid; its id.
    async fn paid(&self, app: &TestApp) -> String {
        let id = self.placed(app, "buy-1", &self.two).await;
        let r = pay(app, &self.viewer, &id, "pm_card_approved").await;
        assert_eq!(r.status(), StatusCode::OK);
        id
    }
}

/// An order reserves its stock once per idempotency key: a retry is the same order, the same
/// key for another order is refused, and no key is no order.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_reserves_its_stock_once_per_idempotency_key() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let lamp = Lamp::on(&app).await;
    let (viewer, body) = (&lamp.viewer, &lamp.two);
    let r = order(&app, viewer, None, body).await;
    assert_error(r, StatusCode::BAD_REQUEST, "missing_idempotency_key").await;
    let r = order(&app, viewer, Some("buy-1"), body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let placed: Value = r.json().await.unwrap();
    assert_eq!(placed["status"], "pending_payment");
    assert_eq!(
        placed["total"],
        json!({"amount_minor": 9000, "currency": "EUR"})
    );
    assert_eq!(placed["items"][0]["unit_price"]["amount_minor"], 4500);
    let id = placed["id"].as_str().unwrap();
    // A retry (the phone lost the answer): the same order, no second reservation.
    let r = order(&app, viewer, Some("buy-1"), body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], id);
    assert_eq!(lamp.red_stock(&app).await, 3);
    // The same key for another order is refused.
    let r = order(&app, viewer, Some("buy-1"), &lamp.one).await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
}

/// Payment: a declined card leaves the order pending, a card number is never taken (only the
/// provider's token for it), only the buyer pays, and a retried payment charges once.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_paid_once_by_its_buyer_with_a_card_token() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let lamp = Lamp::on(&app).await;
    let (viewer, merchant) = (&lamp.viewer, &lamp.merchant);
    let id = &lamp.placed(&app, "buy-1", &lamp.two).await;
    let r = pay(&app, viewer, id, "pm_card_declined").await;
    assert_error(r, StatusCode::PAYMENT_REQUIRED, "payment_declined").await;
    let r = pay(&app, merchant, id, "pm_card_approved").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    // A card number is never taken, only the provider's token for it.
    let r = act(
        &app,
        viewer,
        id,
        "pay",
        Some(json!({"card_number": "4242 4242 4242 4242"})),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let r = pay(&app, viewer, id, "4242424242424242").await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_payment_method",
    )
    .await;
    let r = pay(&app, viewer, id, "pm_card_retry").await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "payment_retry").await;
    let r = pay(&app, viewer, id, "pm_card_approved").await;
    assert_eq!(r.status(), StatusCode::OK);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["test_mode"], true, "the test provider says so: {paid}");
    // A retry whose first answer was lost: the paid order again, nothing charged twice.
    let r = pay(&app, viewer, id, "pm_card_approved").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "paid");
    let r = act(&app, viewer, id, "cancel", None).await;
    assert_error(r, StatusCode::CONFLICT, "invalid_order_state").await;
}

/// A paid order is fulfilled and refunded by its shop only; shipped goods do not come back.
#[tokio::test(flavor = "multi_thread")]
async fn a_paid_order_is_fulfilled_and_refunded_by_its_shop() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let lamp = Lamp::on(&app).await;
    let (viewer, merchant) = (&lamp.viewer, &lamp.merchant);
    let id = &lamp.paid(&app).await;
    let r = act(&app, viewer, id, "fulfil", None).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = act(&app, merchant, id, "fulfil", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "fulfilled");
    let r = act(&app, merchant, id, "refund", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "refunded");
    assert_eq!(
        lamp.red_stock(&app).await,
        3,
        "shipped goods do not come back"
    );
}

/// Two payment requests at once: one claims the order, the other is told so (or, arriving
/// after, gets the paid order); the order is paid once.
#[tokio::test(flavor = "multi_thread")]
async fn two_payments_at_once_pay_the_order_once() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let lamp = Lamp::on(&app).await;
    let (viewer, merchant) = (&lamp.viewer, &lamp.merchant);
    let r = order(&app, viewer, Some("buy-twice"), &lamp.one).await;
    let twice: Value = r.json().await.unwrap();
    let twice_id = twice["id"].as_str().unwrap();
    let card = json!({"payment_method": "pm_card_approved"});
    let (a, b) = tokio::join!(
        act(&app, viewer, twice_id, "pay", Some(card.clone())),
        act(&app, viewer, twice_id, "pay", Some(card.clone())),
    );
    let mut outcomes = Vec::new();
    for r in [a, b] {
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        outcomes.push(match status {
            StatusCode::OK => body["status"].as_str().unwrap().to_owned(),
            StatusCode::CONFLICT => body["error"]["code"].as_str().unwrap().to_owned(),
            other => panic!("{other}: {body}"),
        });
    }
    assert!(outcomes.contains(&"paid".to_owned()), "{outcomes:?}");
    let paid_rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE id = $1 AND status = 'paid' AND paid_at IS NOT NULL",
    )
    .bind(twice_id)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(paid_rows, 1);
    let r = act(&app, merchant, twice_id, "refund", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "refunded");
}

/// An unpaid order cancelled gives its stock back; strangers do not see orders.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_order_gives_its_stock_back_and_strangers_do_not_see_it() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let lamp = Lamp::on(&app).await;
    let viewer = &lamp.viewer;
    let r = order(&app, viewer, Some("buy-2"), &lamp.one).await;
    let second: Value = r.json().await.unwrap();
    assert_eq!(lamp.red_stock(&app).await, 4);
    let (_, stranger) = app.account("viewer", "Bo").await;
    let second_id = second["id"].as_str().unwrap();
    let r = app
        .client
        .get(app.url(&format!("/v1/orders/{second_id}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = act(&app, viewer, second_id, "cancel", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(lamp.red_stock(&app).await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn unpaid_orders_expire_and_release_their_stock() {
    // Two seconds to pay; the sweep runs every second.
    let app = app(DbKind::Sqlite, Duration::from_secs(2)).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let (viewer_id, viewer) = app.account("viewer", "Ana").await;
    let balm = app
        .product(
            &merchant,
            json!({"title": "Balm", "price": {"amount_minor": 500, "currency": "USD"}, "stock": 3}),
        )
        .await;
    let balm_id = balm["id"].as_str().unwrap();
    let body = json!({"viewer_id": viewer_id, "items": [{"product_id": balm_id, "quantity": 3}]});
    let placed: Value = order(&app, &viewer, Some("k"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock(&app, balm_id).await, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stock(&app, balm_id).await != 3 {
        assert!(std::time::Instant::now() < deadline, "never released");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = app
        .client
        .get(app.url(&format!("/v1/orders/{}", placed["id"].as_str().unwrap())))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let r = act(
        &app,
        &viewer,
        placed["id"].as_str().unwrap(),
        "pay",
        Some(json!({"payment_method": "pm_card_approved"})),
    )
    .await;
    assert_error(r, StatusCode::CONFLICT, "invalid_order_state").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_orders_are_refused_and_nothing_is_reserved() {
    let app = app(DbKind::Sqlite, THIRTY_MINUTES).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let (_, creator) = app.account("creator", "Mia").await;
    let (viewer_id, viewer) = app.account("viewer", "Ana").await;
    let (other_id, _) = app.account("viewer", "Bo").await;
    let usd = app
        .product(
            &merchant,
            json!({"title": "Balm", "price": {"amount_minor": 500, "currency": "USD"}, "stock": 5}),
        )
        .await;
    let eur = app.product(&merchant,
        json!({"title": "Serum", "price": {"amount_minor": 900, "currency": "EUR"}, "stock": 5}),
    )
    .await;
    let lamp = app.product(&merchant, json!({"title": "Lamp", "price": {"amount_minor": 900, "currency": "USD"}, "variants": [{"sku": "A", "stock": 2}]})).await;
    let draft = app.product(&merchant, json!({"title": "Soon", "price": {"amount_minor": 900, "currency": "USD"}, "stock": 2, "status": "draft"})).await;
    let video: Value = app
        .upload(&creator, &crate::common::media("mp_smpte-2997.mp4"), "v")
        .await
        .json()
        .await
        .unwrap();
    let item = |p: &Value, q: Value| json!({"product_id": p["id"], "quantity": q});
    let cases = [
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(0))]}),
            "invalid_quantity",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1_000_000_000))]}),
            "invalid_quantity",
        ),
        (
            json!({"viewer_id": viewer_id, "items": []}),
            "invalid_items",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1)), item(&eur, json!(1))]}),
            "mixed_currency",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [{"product_id": "prd_nope", "quantity": 1}]}),
            "unknown_product",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&draft, json!(1))]}),
            "unknown_product",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&lamp, json!(1))]}),
            "variant_required",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1))], "video_id": "vid_nope"}),
            "unknown_video",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1))], "video_id": video["id"], "tag_id": "tag_nope"}),
            "unknown_tag",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1.5))]}),
            "invalid_body",
        ),
        (
            json!({"viewer_id": viewer_id, "items": [item(&usd, json!(-2))]}),
            "invalid_quantity",
        ),
    ];
    for (i, (body, code)) in cases.iter().enumerate() {
        let r = order(&app, &viewer, Some(&format!("bad-{i}")), body).await;
        let status = r.status();
        let got: Value = r.json().await.unwrap();
        assert_eq!(got["error"]["code"], *code, "{body}: {status} {got}");
        assert!(status.is_client_error(), "{body}: {status}");
    }
    let r = order(
        &app,
        &viewer,
        Some("for-bo"),
        &json!({"viewer_id": other_id, "items": [item(&usd, json!(1))]}),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .client
        .post(app.url("/v1/orders"))
        .header("Idempotency-Key", "anon")
        .json(&json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1))]}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let (_, rival) = app.account("merchant", "Rival").await;
    let theirs = app.product(&rival,
        json!({"title": "Theirs", "price": {"amount_minor": 100, "currency": "USD"}, "stock": 5}),
    )
    .await;
    let r = order(
        &app,
        &viewer,
        Some("two-shops"),
        &json!({"viewer_id": viewer_id, "items": [item(&usd, json!(1)), item(&theirs, json!(1))]}),
    )
    .await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one_merchant_per_order",
    )
    .await;
    // More than there is: refused, and nothing held.
    let r = order(
        &app,
        &viewer,
        Some("greedy"),
        &json!({"viewer_id": viewer_id, "items": [item(&usd, json!(3)), item(&lamp, json!(1))]}),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "variant_required").await;
    let lamp_a = lamp["variants"][0]["id"].clone();
    let r = order(&app, &viewer, Some("greedy-2"), &json!({"viewer_id": viewer_id, "items": [item(&usd, json!(3)), {"product_id": lamp["id"], "variant_id": lamp_a, "quantity": 3}]})).await;
    assert_error(r, StatusCode::CONFLICT, "out_of_stock").await;
    assert_eq!(
        stock(&app, usd["id"].as_str().unwrap()).await,
        5,
        "the first line's reservation was rolled back"
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

crate::on_each_database!(two_hundred_buyers_for_the_last_ten_units,);

/// A payment whose answer is lost leaves the order `paying`, never charged twice nor cancelled
/// blind: the sweep asks the provider and settles it. A refund goes through the provider.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_payment_answer_is_settled_with_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.shop.payment_timeout = std::time::Duration::from_millis(300);
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let (viewer_id, viewer) = app.account("viewer", "Ana").await;
    let balm = app.product(&merchant,
        json!({"title": "Balm", "price": {"amount_minor": 1299, "currency": "USD"}, "stock": 5}),
    )
    .await;
    let body =
        json!({"viewer_id": viewer_id, "items": [{"product_id": balm["id"], "quantity": 1}]});
    let placed: Value = order(&app, &viewer, Some("slow"), &body)
        .await
        .json()
        .await
        .unwrap();
    let id = placed["id"].as_str().unwrap();
    let r = pay(&app, &viewer, id, "pm_card_slow").await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "payment_pending").await;
    let seen = app
        .get_json(&format!("/v1/orders/{id}"), Some(&viewer))
        .await;
    assert_eq!(seen["status"], "paying");
    // Paying again meanwhile is refused: the money may already have moved.
    let r = pay(&app, &viewer, id, "pm_card_approved").await;
    assert_error(r, StatusCode::CONFLICT, "invalid_order_state").await;

    let settled =
        vitrine_shop::sweep::reconcile(&app.state.db, &app.payments, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(settled, 1);
    let seen = app
        .get_json(&format!("/v1/orders/{id}"), Some(&viewer))
        .await;
    assert_eq!(seen["status"], "paid", "{seen}");
    assert_eq!(stock(&app, balm["id"].as_str().unwrap()).await, 4);

    let r = act(&app, &merchant, id, "refund", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "refunded");
    assert_eq!(
        app.payments.find(&format!("{id}.1")).await.unwrap(),
        Some(vitrine_shop::payment::ChargeState::Closed),
        "the provider refunded it"
    );
}
