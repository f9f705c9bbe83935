//! Identity and access: signing up and in, sessions that end, anonymous viewers who keep their
//! history, creators, shops with staff, scoped API keys and operators — over real HTTP, on
//! SQLite and PostgreSQL.

use std::time::Duration;

use crate::common::{assert_error, DbKind, SmtpServer, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = app.client.request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Response {
    send(app, reqwest::Method::POST, path, token, Some(body)).await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    send(app, reqwest::Method::GET, path, token, None).await
}

async fn json_of(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    r.json().await.unwrap()
}

/// `owner` invites `email` to `shop`; the person behind `token` (signed up with that email)
/// verifies it and accepts.
async fn hire(app: &TestApp, shop: &str, owner: &str, email: &str, token: &str) {
    let r = post(
        app,
        &format!("/v1/shops/{shop}/members"),
        Some(owner),
        json!({"email": email, "role": "staff"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    verified(app, email).await;
    let r = post(
        app,
        &format!("/v1/shops/{shop}/join"),
        Some(token),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Marks `email` verified (the link flow itself is tested in
/// `mail::mail_confirms_an_email_with_a_link_that_works_once`).
async fn verified(app: &TestApp, email: &str) {
    sqlx::query("UPDATE accounts SET email_verified_at = 1 WHERE email = $1")
        .bind(email)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

/// Signs up `email`; returns the answer's body (account, token, expires_at).
async fn sign_up(app: &TestApp, email: &str, token: Option<&str>) -> Value {
    let r = post(
        app,
        "/v1/auth/signup",
        token,
        json!({"email": email, "password": "carrot lip balm", "display_name": "Mia"}),
    )
    .await;
    json_of(r, StatusCode::CREATED).await
}

mod admin;
mod keys;
mod mail;
mod sessions;
mod shops;
