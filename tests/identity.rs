//! Identity and access: signing up and in, sessions that end, anonymous viewers who keep their
//! history, creators, shops with staff, scoped API keys and operators — over real HTTP, on
//! SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{assert_error, DbKind, SmtpServer, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

crate::on_each_database!(
    people_sign_up_sign_in_and_sign_out,
    sessions_end_on_their_idle_timeout_and_lifetime,
    an_anonymous_viewer_keeps_their_history_when_signing_up_or_in,
    a_person_becomes_a_creator_and_opens_a_shop_with_staff,
    api_keys_act_within_their_scopes_until_revoked,
    operators_suspend_and_restore_accounts,
    accounts_from_before_identity_become_persons,
    mail_confirms_emails_and_resets_forgotten_passwords,
    a_shops_staff_see_and_fulfil_its_orders,
);

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
/// `mail_confirms_emails_and_resets_forgotten_passwords`).
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

async fn people_sign_up_sign_in_and_sign_out(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let r = post(
        &app,
        "/v1/auth/signup",
        None,
        json!({"email": " Mia@Example.com ", "password": "carrot lip balm", "display_name": " Mia "}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("vitrine_session=vt_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        cookie.contains(&format!("Max-Age={}", 30 * 24 * 3600)),
        "the cookie lasts as long as the session can: {cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "served over plain HTTP here: {cookie}"
    );
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["account"]["email"], "mia@example.com");
    assert_eq!(body["account"]["display_name"], "Mia");
    assert_eq!(body["account"]["creator"], false);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = body["expires_at"].as_i64().unwrap();
    assert!(
        (expires - now - 7 * 24 * 3600).abs() < 60,
        "idle timeout first: {expires}"
    );
    let me = json_of(get(&app, "/v1/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["id"], body["account"]["id"]);

    // Bad input, each with its own answer; nothing is created.
    for (body, status, code) in [
        (
            json!({"email": "mia@example.com", "password": "another good one", "display_name": "M"}),
            StatusCode::CONFLICT,
            "email_taken",
        ),
        (
            json!({"email": "MIA@example.com", "password": "another good one", "display_name": "M"}),
            StatusCode::CONFLICT,
            "email_taken",
        ),
        (
            json!({"email": "bo@example.com", "password": "short", "display_name": "Bo"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"email": "bo@example.com", "password": "password123", "display_name": "Bo"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"email": "bo@example.com", "password": "bo@example.com", "display_name": "Bo"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": "carrot lip balm", "display_name": "Bo"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            json!({"email": "bo@example.com", "password": "carrot lip balm", "display_name": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_display_name",
        ),
        (
            json!({"email": "bo@example.com", "password": "carrot lip balm"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        assert_error(
            post(&app, "/v1/auth/signup", None, body).await,
            status,
            code,
        )
        .await;
    }
    assert_error(
        post(
            &app,
            "/v1/auth/login",
            None,
            json!({"email": "bo@example.com", "password": "carrot lip balm"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // Sign in (any case of the email); a wrong password and an unknown email look the same.
    let login = |email: &'static str, password: &'static str| {
        post(
            &app,
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
    };
    let second = json_of(
        login("MIA@example.com", "carrot lip balm").await,
        StatusCode::OK,
    )
    .await;
    let second = second["token"].as_str().unwrap().to_owned();
    let wrong = assert_error(
        login("mia@example.com", "carrot lip bal").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_error(
        login("nobody@example.com", "carrot lip balm").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong["error"]["message"], unknown["error"]["message"]);

    // Two sessions, listed with the current one marked; ending the other signs it out.
    let sessions = json_of(
        get(&app, "/v1/me/sessions", Some(&token)).await,
        StatusCode::OK,
    )
    .await;
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/me/sessions/{}", other["id"].as_str().unwrap()),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        get(&app, "/v1/me", Some(&second)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;

    // Logout-all ends the others; logout ends this one (and clears the cookie).
    let third = json_of(
        login("mia@example.com", "carrot lip balm").await,
        StatusCode::OK,
    )
    .await;
    let third = third["token"].as_str().unwrap().to_owned();
    let ended = json_of(
        post(&app, "/v1/auth/logout-all", Some(&token), json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ended["ended"], 1);
    assert_error(
        get(&app, "/v1/me", Some(&third)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    let r = post(&app, "/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_error(
        get(&app, "/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    assert_error(
        get(&app, "/v1/me", Some("vt_made_up")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The cookie signs the pages in; a request that changes something must come from them.
    let (_, token) = (
        0,
        json_of(
            login("mia@example.com", "carrot lip balm").await,
            StatusCode::OK,
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let with_cookie = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("cookie", format!("theme=dark; vitrine_session={token}"))
    };
    let me = with_cookie(reqwest::Method::GET, "/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let forged = with_cookie(reqwest::Method::POST, "/v1/shops")
        .header("origin", "https://evil.example")
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::FORBIDDEN, "cross_site_request").await;
    let no_origin = with_cookie(reqwest::Method::POST, "/v1/shops")
        .json(&json!({"name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_error(no_origin, StatusCode::FORBIDDEN, "cross_site_request").await;
    let own_page = with_cookie(reqwest::Method::POST, "/v1/shops")
        .header("origin", app.base.clone())
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(own_page.status(), StatusCode::CREATED);
}

async fn sessions_end_on_their_idle_timeout_and_lifetime(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let token = sign_up(&app, "ana@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let day = 24 * 3600 * 1000i64;
    let age = |created_days: i64, used_days: i64| {
        let (state, token) = (app.state.clone(), token.clone());
        async move {
            let now = vitrine_core::time::now_ms();
            sqlx::query(
                "UPDATE sessions SET created_at = $1, last_used_at = $2 WHERE token_hash = $3",
            )
            .bind(now - created_days * day)
            .bind(now - used_days * day)
            .bind(vitrine_identity::hash_secret(&token))
            .execute(state.db.pool())
            .await
            .unwrap();
        }
    };
    // (A successful request records its use in the background: the refusals come first, so no
    // such write lands after the next `age`.)
    age(20, 8).await;
    assert_error(
        get(&app, "/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    age(31, 0).await;
    assert_error(
        get(&app, "/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    age(29, 0).await;
    assert_eq!(
        get(&app, "/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    age(20, 6).await;
    assert_eq!(
        get(&app, "/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
}

async fn an_anonymous_viewer_keeps_their_history_when_signing_up_or_in(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, creator) = app.account("creator", "Mia").await;
    let me = app.get_json("/v1/me", Some(&creator)).await;
    let clips = app.ready_clips(me["id"].as_str().unwrap(), 3, 20_000).await;

    // A phone that never signed up likes a clip and follows its creator.
    let anon = json_of(
        post(&app, "/v1/auth/anonymous", None, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(anon["account"]["anonymous"], true);
    assert_eq!(anon["account"]["email"], Value::Null);
    let (anon_id, anon_token) = (
        anon["account"]["id"].as_str().unwrap().to_owned(),
        anon["token"].as_str().unwrap().to_owned(),
    );
    let r = app
        .events(
            &anon_token,
            json!([
                {"id": "e1", "viewer_id": anon_id, "video_id": clips[0], "type": "like"},
                {"id": "e2", "viewer_id": anon_id, "video_id": clips[0], "type": "follow"},
            ]),
        )
        .await;
    assert_eq!(r["accepted"], 2, "{r}");
    // It may watch and learn, not buy or sell.
    assert_error(
        post(&app, "/v1/shops", Some(&anon_token), json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "sign_up_required",
    )
    .await;
    assert_error(
        post(
            &app,
            "/v1/me/creator",
            Some(&anon_token),
            json!({"handle": "anon"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "sign_up_required",
    )
    .await;

    // Signing up with that session keeps the account, and so its history.
    let signed = sign_up(&app, "leo@example.com", Some(&anon_token)).await;
    assert_eq!(signed["account"]["id"], anon_id.as_str());
    assert_eq!(signed["account"]["anonymous"], false);
    assert_error(
        get(&app, "/v1/me", Some(&anon_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    let follows = |viewer: String| {
        let db = app.state.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM follows WHERE viewer_id = $1")
                .bind(viewer)
                .fetch_one(db.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(follows(anon_id.clone()).await, 1);

    // Signing in from another anonymous session moves what it did into the account.
    let other = json_of(
        post(&app, "/v1/auth/anonymous", None, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    let (other_id, other_token) = (
        other["account"]["id"].as_str().unwrap().to_owned(),
        other["token"].as_str().unwrap().to_owned(),
    );
    app.events(
        &other_token,
        json!([{"id": "e1", "viewer_id": other_id, "video_id": clips[1], "type": "like"}]),
    )
    .await;
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .bearer_auth(&other_token)
        .json(&json!({"email": "leo@example.com", "password": "carrot lip balm"}))
        .send()
        .await
        .unwrap();
    let leo = json_of(r, StatusCode::OK).await;
    let leo_token = leo["token"].as_str().unwrap().to_owned();
    let liked: Vec<String> = sqlx::query_scalar(
        "SELECT video_id FROM feed_viewer_videos WHERE viewer_id = $1 AND liked = 1 ORDER BY video_id",
    )
    .bind(&anon_id)
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let mut want = vec![clips[0].clone(), clips[1].clone()];
    want.sort();
    assert_eq!(liked, want);
    assert_error(
        get(&app, "/v1/me", Some(&other_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;

    // The feed is the caller's own: naming another viewer is refused.
    let r = get(
        &app,
        &format!("/v1/feed?viewer={other_id}"),
        Some(&leo_token),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "not_your_feed").await;
    let r = get(
        &app,
        &format!("/v1/feed?viewer={anon_id}"),
        Some(&leo_token),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn a_person_becomes_a_creator_and_opens_a_shop_with_staff(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let mia = sign_up(&app, "mia@example.com", None).await;
    let mia_token = mia["token"].as_str().unwrap().to_owned();
    let bo = sign_up(&app, "bo@example.com", None).await;
    let bo_token = bo["token"].as_str().unwrap().to_owned();
    let bo_id = bo["account"]["id"].as_str().unwrap().to_owned();

    // Not a creator yet: uploading is refused with the way forward.
    let r = app
        .upload(&mia_token, &common::media("mb_rotate-buck-bunny.mp4"), "x")
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "not_a_creator").await;
    for (handle, status, code) in [
        ("mi", StatusCode::UNPROCESSABLE_ENTITY, "invalid_handle"),
        ("mia lu", StatusCode::UNPROCESSABLE_ENTITY, "invalid_handle"),
        ("admin", StatusCode::UNPROCESSABLE_ENTITY, "invalid_handle"),
    ] {
        assert_error(
            post(
                &app,
                "/v1/me/creator",
                Some(&mia_token),
                json!({"handle": handle}),
            )
            .await,
            status,
            code,
        )
        .await;
    }
    let creator = json_of(
        post(
            &app,
            "/v1/me/creator",
            Some(&mia_token),
            json!({"handle": "@Mia"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (creator["handle"].as_str(), creator["creator"].as_bool()),
        (Some("mia"), Some(true))
    );
    assert_error(
        post(
            &app,
            "/v1/me/creator",
            Some(&bo_token),
            json!({"handle": "mia"}),
        )
        .await,
        StatusCode::CONFLICT,
        "handle_taken",
    )
    .await;
    assert_error(
        post(
            &app,
            "/v1/me/creator",
            Some(&mia_token),
            json!({"handle": "mia2"}),
        )
        .await,
        StatusCode::CONFLICT,
        "already_creator",
    )
    .await;

    // A creator who sells opens a shop; products belong to it.
    assert_error(
        app.create_product(&mia_token, "Tote", 3000, "USD", 3).await,
        StatusCode::FORBIDDEN,
        "no_shop",
    )
    .await;
    assert_error(
        post(&app, "/v1/shops", Some(&mia_token), json!({"name": " "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_shop_name",
    )
    .await;
    let shop = json_of(
        post(
            &app,
            "/v1/shops",
            Some(&mia_token),
            json!({"name": "Mia's merch"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let product = json_of(
        app.create_product(&mia_token, "Tote", 3000, "USD", 3).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(product["shop_id"], shop_id.as_str());

    // Staff: invited by email by the owner only, and only with their consent; the answer does
    // not tell whether an email has an account.
    let members = format!("/v1/shops/{shop_id}/members");
    let invite = |token: String, body: Value| {
        let (app, members) = (&app, members.clone());
        async move { post(app, &members, Some(&token), body).await }
    };
    assert_error(
        invite(
            bo_token.clone(),
            json!({"email": "bo@example.com", "role": "staff"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_shop_owner",
    )
    .await;
    assert_error(
        invite(
            mia_token.clone(),
            json!({"email": "bo@example.com", "role": "owner"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_role",
    )
    .await;
    assert_error(
        invite(mia_token.clone(), json!({"email": "bo", "role": "staff"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_email",
    )
    .await;
    for email in ["nobody@example.com", "BO@example.com"] {
        let r = invite(mia_token.clone(), json!({"email": email, "role": "staff"})).await;
        assert_eq!(json_of(r, StatusCode::ACCEPTED).await["status"], "invited");
    }
    let join = format!("/v1/shops/{shop_id}/join");
    let invited = app.get_json("/v1/me/invitations", Some(&bo_token)).await;
    assert_eq!(invited[0]["id"], shop_id.as_str());
    // Not yet a member: an invitation gives nothing until accepted, with the email verified.
    assert_eq!(
        get(&app, &members, Some(&bo_token)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_error(
        post(&app, &join, Some(&bo_token), json!({})).await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    )
    .await;
    let (_, stranger) = (
        0,
        sign_up(&app, "eve@example.com", None).await["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    verified(&app, "eve@example.com").await;
    assert_error(
        post(&app, &join, Some(&stranger), json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    verified(&app, "bo@example.com").await;
    let list = json_of(
        post(&app, &join, Some(&bo_token), json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_error(
        invite(
            mia_token.clone(),
            json!({"email": "bo@example.com", "role": "staff"}),
        )
        .await,
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    let patch = |token: String| {
        let (app, id) = (&app, product["id"].as_str().unwrap().to_owned());
        async move {
            app.client
                .patch(app.url(&format!("/v1/products/{id}")))
                .bearer_auth(token)
                .json(&json!({"stock": 9}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(patch(bo_token.clone()).await.status(), StatusCode::OK);
    let analytics = get(
        &app,
        &format!("/v1/shops/{shop_id}/analytics"),
        Some(&bo_token),
    )
    .await;
    assert_eq!(analytics.status(), StatusCode::OK);
    let me = app.get_json("/v1/me", Some(&bo_token)).await;
    assert_eq!(me["shops"][0]["role"], "staff");
    assert_error(
        send(
            &app,
            reqwest::Method::DELETE,
            &format!("{members}/{}", mia["account"]["id"].as_str().unwrap()),
            Some(&mia_token),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "owner_stays",
    )
    .await;
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("{members}/{bo_id}"),
        Some(&mia_token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        patch(bo_token.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_error(
        get(&app, &members, Some(&bo_token)).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    )
    .await;
    // Staff may also leave on their own.
    hire(&app, &shop_id, &mia_token, "bo@example.com", &bo_token).await;
    assert_eq!(patch(bo_token.clone()).await.status(), StatusCode::OK);
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("{members}/{bo_id}"),
        Some(&bo_token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        patch(bo_token.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
}

async fn api_keys_act_within_their_scopes_until_revoked(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, owner) = app.account("merchant", "Glow Co").await;
    let shop = app.shop_of(&owner).await;
    let (_, staff_token) = (
        0,
        sign_up(&app, "staff@example.com", None).await["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    hire(&app, &shop, &owner, "staff@example.com", &staff_token).await;

    for (body, status, code) in [
        (
            json!({"name": "x", "scopes": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scope",
        ),
        (
            json!({"name": "x", "scopes": ["videos:delete"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scope",
        ),
        (
            json!({"name": "", "scopes": ["products:read"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key_name",
        ),
        (
            json!({"name": "x", "scopes": ["products:read"], "shop_id": "shp_nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_shop",
        ),
    ] {
        assert_error(
            post(&app, "/v1/api-keys", Some(&owner), body).await,
            status,
            code,
        )
        .await;
    }
    // Only the owner makes the shop's keys.
    assert_error(
        post(
            &app,
            "/v1/api-keys",
            Some(&staff_token),
            json!({"name": "x", "scopes": ["products:read"], "shop_id": shop}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_shop_owner",
    )
    .await;
    let key = json_of(
        post(&app, "/v1/api-keys", Some(&owner), json!({"name": "Catalog sync", "scopes": ["products:write", "products:read"], "shop_id": shop})).await,
        StatusCode::CREATED,
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("vk_live_") && secret.starts_with(key["prefix"].as_str().unwrap()));
    assert_eq!(key["scopes"], json!(["products:read", "products:write"]));

    // In scope: it lists a product for its shop. Out of scope: 403 naming the scope.
    let product = json_of(
        app.create_product(&secret, "Serum", 2500, "EUR", 5).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(product["shop_id"], shop.as_str());
    let body = assert_error(
        get(&app, &format!("/v1/shops/{shop}/analytics"), Some(&secret)).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("analytics:read"),
        "{body}"
    );
    assert_error(
        get(&app, "/v1/me/sessions", Some(&secret)).await,
        StatusCode::FORBIDDEN,
        "session_required",
    )
    .await;
    assert_error(
        post(
            &app,
            "/v1/api-keys",
            Some(&secret),
            json!({"name": "x", "scopes": ["products:read"]}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "session_required",
    )
    .await;

    // A shop's key acts for the shop only, never as the person who made it; a personal key
    // (a staff member's) never acts for a shop: only the owner makes and revokes shop keys.
    let everything: Vec<&str> = vec![
        "videos:read",
        "videos:write",
        "products:read",
        "products:write",
        "orders:read",
        "orders:write",
        "analytics:read",
        "events:write",
    ];
    let shop_key = json_of(
        post(
            &app,
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "all", "scopes": everything, "shop_id": shop}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner_id = app.get_json("/v1/me", Some(&owner)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, body) in [
        ("/v1/direct-uploads", json!({})),
        (
            "/v1/orders",
            json!({"viewer_id": owner_id, "items": [{"product_id": product["id"], "quantity": 1}]}),
        ),
        ("/v1/events", json!({"events": []})),
    ] {
        assert_error(
            post(&app, path, Some(&shop_key), body).await,
            StatusCode::FORBIDDEN,
            "shop_key",
        )
        .await;
    }
    assert_error(
        get(&app, "/v1/creators/me/earnings", Some(&shop_key)).await,
        StatusCode::FORBIDDEN,
        "shop_key",
    )
    .await;
    let personal = json_of(
        post(
            &app,
            "/v1/api-keys",
            Some(&staff_token),
            json!({"name": "mine", "scopes": everything}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        app.create_product(&personal, "Serum", 2500, "EUR", 5).await,
        StatusCode::FORBIDDEN,
        "personal_key",
    )
    .await;
    assert_error(
        get(&app, &format!("/v1/shops/{shop}/orders"), Some(&personal)).await,
        StatusCode::FORBIDDEN,
        "personal_key",
    )
    .await;

    // Listed without the secret, with its last use; revoked, it stops at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = json_of(
        get(&app, "/v1/api-keys", Some(&owner)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(keys[0].get("secret").is_none());
    assert!(keys[0]["last_used_at"].is_i64(), "{keys}");
    let id = key["id"].as_str().unwrap();
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/api-keys/{id}"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/api-keys/{id}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.create_product(&secret, "Serum", 2500, "EUR", 5).await,
        StatusCode::UNAUTHORIZED,
        "key_revoked",
    )
    .await;
}

async fn operators_suspend_and_restore_accounts(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, operator) = app.account("admin", "Op").await;
    let (creator_id, creator) = app.account("creator", "Mia").await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let (_, viewer) = app.account("viewer", "Vi").await;
    let clips = app.ready_clips(&creator_id, 2, 20_000).await;
    let product = json_of(
        app.create_product(&merchant, "Serum", 2500, "EUR", 5).await,
        StatusCode::CREATED,
    )
    .await;
    app.refresh_feed().await;
    let feed_ids = |token: String| {
        let app = &app;
        async move {
            let page = app.get_json("/v1/feed?limit=10", Some(&token)).await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let shows_creator = |ids: Vec<String>| ids.iter().any(|id| clips.contains(id));
    assert!(shows_creator(feed_ids(viewer.clone()).await));

    // Only operators see accounts.
    assert_error(
        get(&app, "/v1/admin/accounts", Some(&viewer)).await,
        StatusCode::FORBIDDEN,
        "not_an_operator",
    )
    .await;
    let found = json_of(
        get(&app, "/v1/admin/accounts?q=mI", Some(&operator)).await,
        StatusCode::OK,
    )
    .await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["id"], creator_id.as_str());

    // The creator's integration key, made before: it stops with the account.
    let key = json_of(
        post(
            &app,
            "/v1/api-keys",
            Some(&creator),
            json!({"name": "sync", "scopes": ["videos:read"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get(&app, "/v1/me", Some(&key)).await.status(),
        StatusCode::OK
    );
    let suspend = format!("/v1/admin/accounts/{creator_id}/suspend");
    assert_error(
        post(&app, &suspend, Some(&operator), json!({"reason": " "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reason",
    )
    .await;
    let r = json_of(
        post(&app, &suspend, Some(&operator), json!({"reason": "spam"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["suspended"], true);
    for credential in [&creator, &key] {
        assert_error(
            get(&app, "/v1/me", Some(credential)).await,
            StatusCode::UNAUTHORIZED,
            "account_suspended",
        )
        .await;
    }
    app.refresh_feed().await;
    assert!(
        !shows_creator(feed_ids(viewer.clone()).await),
        "a suspended creator's clips leave the feed"
    );
    assert!(
        app.get_video(&clips[0]).await["id"].is_string(),
        "nothing is deleted"
    );

    // A suspended shop owner's products stop selling.
    let merchant_id = app.get_json("/v1/me", Some(&merchant)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &app,
        &format!("/v1/admin/accounts/{merchant_id}/suspend"),
        Some(&operator),
        json!({"reason": "fraud"}),
    )
    .await;
    let (viewer_id, _) = (
        app.get_json("/v1/me", Some(&viewer)).await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        (),
    );
    let order = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&viewer)
        .header("Idempotency-Key", "k1")
        .json(&json!({"viewer_id": viewer_id, "items": [{"product_id": product["id"], "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_error(
        order,
        StatusCode::UNPROCESSABLE_ENTITY,
        "product_not_active",
    )
    .await;

    // Restored, everything works again.
    let r = json_of(
        post(
            &app,
            &format!("/v1/admin/accounts/{creator_id}/restore"),
            Some(&operator),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["suspended"], false);
    assert_eq!(
        get(&app, "/v1/me", Some(&creator)).await.status(),
        StatusCode::OK
    );
    app.refresh_feed().await;
    assert!(shows_creator(feed_ids(viewer.clone()).await));
}

/// Accounts made before identity existed (one role, a token that never expired) migrate: the
/// token becomes a session, a creator gets a handle, a merchant a shop owning its products.
async fn accounts_from_before_identity_become_persons(db: DbKind) {
    use vitrine_core::db::Db;
    let dir = tempfile::tempdir().unwrap();
    let url = match db {
        DbKind::Sqlite => Db::sqlite_url_in(dir.path()),
        DbKind::Postgres => common::fresh_postgres_url().await,
    };
    let db = Db::connect(&url).await.unwrap();
    // The schema as it was before the identity migration.
    let all = sqlx::migrate!("./core/migrations");
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version < 20261204000001)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate!("./core/migrations")
    };
    before.run(db.pool()).await.unwrap();
    for (id, role, name, token) in [
        (
            "acc_00000000000000000000000000000001",
            "creator",
            "Mia Lu",
            "vt_old_creator",
        ),
        (
            "acc_00000000000000000000000000000002",
            "merchant",
            "Glow Co",
            "vt_old_merchant",
        ),
        (
            "acc_00000000000000000000000000000003",
            "viewer",
            "Vi",
            "vt_old_viewer",
        ),
    ] {
        sqlx::query("INSERT INTO accounts (id, role, name, token_hash, created_at) VALUES ($1, $2, $3, $4, 1)")
            .bind(id)
            .bind(role)
            .bind(name)
            .bind(vitrine_identity::hash_secret(token))
            .execute(db.pool())
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO products (id, merchant_id, title, price_minor, currency, stock, created_at, updated_at) \
         VALUES ('prd_00000000000000000000000000000001', 'acc_00000000000000000000000000000002', 'Balm', 100, 'USD', 1, 1, 1)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db.migrate().await.unwrap();
    assert_eq!(vitrine_identity::upgrade::upgrade(&db).await.unwrap(), 3);
    assert_eq!(
        vitrine_identity::upgrade::upgrade(&db).await.unwrap(),
        0,
        "once"
    );
    let policy = vitrine_identity::sessions::SessionPolicy::default();
    let creator = vitrine_identity::principal::authenticate(&db, &policy, "vt_old_creator")
        .await
        .unwrap();
    assert_eq!(creator.account.handle.as_deref(), Some("mia_lu"));
    assert_eq!(creator.account.role, vitrine_identity::accounts::Role::User);
    let merchant = vitrine_identity::principal::authenticate(&db, &policy, "vt_old_merchant")
        .await
        .unwrap();
    let shops = vitrine_identity::shops::memberships(&db, &merchant.account.id)
        .await
        .unwrap();
    assert_eq!(shops.len(), 1);
    assert_eq!(shops[0].0.name, "Glow Co");
    assert_eq!(shops[0].1, vitrine_identity::shops::MemberRole::Owner);
    let product = vitrine_shop::products::get(
        &db,
        &"prd_00000000000000000000000000000001".parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(product.shop_id, shops[0].0.id);
    let viewer = vitrine_identity::principal::authenticate(&db, &policy, "vt_old_viewer")
        .await
        .unwrap();
    assert!(!viewer.account.is_creator());
}

async fn mail_confirms_emails_and_resets_forgotten_passwords(db: DbKind) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.auth.smtp_url = Some(smtp.url().into());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(common::fresh_postgres_url().await.into());
    }
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;

    // Signing up mails a verification link; it works once.
    let mia = sign_up(&app, "mia@example.com", None).await;
    let token = mia["token"].as_str().unwrap().to_owned();
    assert_eq!(mia["account"]["email_verified"], false);
    let link = smtp.link_token("mia@example.com", "/verify-email", 0).await;
    let verified = json_of(
        post(&app, "/v1/auth/verify-email", None, json!({"token": link})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(verified["email_verified"], true);
    assert_error(
        post(&app, "/v1/auth/verify-email", None, json!({"token": link})).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_error(
        post(&app, "/v1/me/verify-email", Some(&token), json!({})).await,
        StatusCode::CONFLICT,
        "already_verified",
    )
    .await;

    // A reset is always 202, and mails only people who have an account.
    let other = sign_up(&app, "leo@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for email in ["mia@example.com", "nobody@example.com", "not an email"] {
        let r = post(
            &app,
            "/v1/auth/password-reset",
            None,
            json!({"email": email}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let reset = smtp
        .link_token("mia@example.com", "/reset-password", 0)
        .await;
    assert!(
        !smtp
            .messages()
            .iter()
            .any(|m| m.contains("nobody@example.com")),
        "no mail for an unknown email"
    );
    for (body, status, code) in [
        (
            json!({"token": "vl_unknown", "password": "a brand new one"}),
            StatusCode::BAD_REQUEST,
            "invalid_token",
        ),
        (
            json!({"token": reset, "password": "password1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
    ] {
        assert_error(
            post(&app, "/v1/auth/password-reset/confirm", None, body).await,
            status,
            code,
        )
        .await;
    }
    // A weak try does not use the link up.
    let done = json_of(
        post(
            &app,
            "/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset, "password": "a brand new one"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["account"]["email"], "mia@example.com");
    assert_error(
        post(
            &app,
            "/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset, "password": "another new one"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    // Every other session ended; the new password works, the old one does not.
    assert_error(
        get(&app, "/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    assert_eq!(
        get(&app, "/v1/me", Some(done["token"].as_str().unwrap()))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/v1/me", Some(&other)).await.status(),
        StatusCode::OK,
        "other people stay signed in"
    );
    let login = |password: &'static str| {
        post(
            &app,
            "/v1/auth/login",
            None,
            json!({"email": "mia@example.com", "password": password}),
        )
    };
    assert_error(
        login("carrot lip balm").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(login("a brand new one").await.status(), StatusCode::OK);
}

async fn a_shops_staff_see_and_fulfil_its_orders(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, owner) = app.account("merchant", "Glow Co").await;
    let shop = app.shop_of(&owner).await;
    let staff = sign_up(&app, "sam@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    hire(&app, &shop, &owner, "sam@example.com", &staff).await;
    let product = json_of(
        app.create_product(&owner, "Serum", 2500, "EUR", 5).await,
        StatusCode::CREATED,
    )
    .await;
    let (buyer_id, buyer) = app.account("viewer", "Ana").await;
    let mut orders = Vec::new();
    for key in ["k1", "k2"] {
        let r = app
            .client
            .post(app.url("/v1/orders"))
            .bearer_auth(&buyer)
            .header("Idempotency-Key", key)
            .json(&json!({"viewer_id": buyer_id, "items": [{"product_id": product["id"], "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        orders.push(
            json_of(r, StatusCode::CREATED).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let paid = post(
        &app,
        &format!("/v1/orders/{}/pay", orders[0]),
        Some(&buyer),
        json!({"payment_method": "pm_card_approved"}),
    )
    .await;
    assert_eq!(paid.status(), StatusCode::OK);

    // Staff list what is left to ship and ship it; the list pages newest first.
    let to_ship = json_of(
        get(
            &app,
            &format!("/v1/shops/{shop}/orders?status=paid"),
            Some(&staff),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = to_ship["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [orders[0].as_str()]);
    let all = json_of(
        get(
            &app,
            &format!("/v1/shops/{shop}/orders?limit=1"),
            Some(&staff),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["items"][0]["id"], orders[1].as_str());
    let cursor = all["next_cursor"].as_str().unwrap();
    let next = json_of(
        get(
            &app,
            &format!("/v1/shops/{shop}/orders?limit=1&cursor={cursor}"),
            Some(&staff),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(next["items"][0]["id"], orders[0].as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let r = post(
        &app,
        &format!("/v1/orders/{}/fulfil", orders[0]),
        Some(&staff),
        json!({}),
    )
    .await;
    assert_eq!(json_of(r, StatusCode::OK).await["status"], "fulfilled");

    // Nobody else sees them; bad input is told apart.
    assert_error(
        get(&app, &format!("/v1/shops/{shop}/orders"), Some(&buyer)).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    )
    .await;
    assert_error(
        get(
            &app,
            &format!("/v1/shops/{shop}/orders?status=lost"),
            Some(&staff),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_status",
    )
    .await;
    assert_error(
        get(&app, "/v1/shops/shp_nope/orders", Some(&staff)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_slow_down_then_get_429_with_retry_after() {
    // Two API processes on one database: the failures are counted where both see them.
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config(dir.path());
    let app = TestApp::spawn_with(config.clone(), vitrine::Role::All, Some(dir)).await;
    let other = TestApp::spawn_with(config, vitrine::Role::Api, None).await;
    sign_up(&app, "mia@example.com", None).await;
    let mut turn = 0;
    let mut wrong = || {
        turn += 1;
        post(
            if turn % 2 == 0 { &app } else { &other },
            "/v1/auth/login",
            None,
            json!({"email": "mia@example.com", "password": "not my password"}),
        )
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = std::time::Instant::now();
        assert_error(
            wrong().await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest >= Duration::from_secs(2),
        "answers after repeated failures are slowed down: the slowest took {slowest:?}"
    );
    let r = wrong().await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Even the right password waits until the window ends.
    let right = post(
        &app,
        "/v1/auth/login",
        None,
        json!({"email": "mia@example.com", "password": "carrot lip balm"}),
    )
    .await;
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_mail_server_links_are_written_as_eml_files() {
    let app = TestApp::spawn().await;
    sign_up(&app, "mia@example.com", None).await;
    let dir = app.config.storage.data_dir.join("mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let message = loop {
        let found = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let Some(file) = found.first() {
            // (Undoing quoted-printable line breaks and escapes, if the body was encoded so.)
            break std::fs::read_to_string(file)
                .unwrap()
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(message.contains("To: mia@example.com"), "{message}");
    assert!(message.contains("/verify-email?token=vl_"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_made_before_sign_up_claims_an_email_and_keeps_its_clips() {
    let app = TestApp::spawn().await;
    let (creator_id, creator) = app.account("creator", "Old Mia").await;
    let clip = app.ready_clips(&creator_id, 1, 20_000).await.remove(0);
    let claimed = sign_up(&app, "mia@example.com", Some(&creator)).await;
    assert_eq!(claimed["account"]["id"], creator_id.as_str());
    assert!(claimed["account"]["handle"].is_string(), "{claimed}");
    let token = claimed["token"].as_str().unwrap();
    let mine = app.get_json("/v1/creators/me/videos", Some(token)).await;
    assert_eq!(mine["items"][0]["id"], clip.as_str());
    // The script's token was handed out before anyone proved anything: it ends.
    assert_error(
        get(&app, "/v1/me", Some(&creator)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    // An account that has an email is not claimed again: signing up makes a new one.
    let other = sign_up(&app, "leo@example.com", Some(token)).await;
    assert_ne!(other["account"]["id"], creator_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_another_site_cannot_sign_a_visitor_in_or_out() {
    let app = TestApp::spawn().await;
    let from = |origin: Option<&str>| {
        let mut r = app.client.post(app.url("/v1/auth/anonymous"));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_error(
        from(Some("https://evil.example")).await.unwrap(),
        StatusCode::FORBIDDEN,
        "cross_site_request",
    )
    .await;
    assert_eq!(
        from(Some(&app.base)).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        from(None).await.unwrap().status(),
        StatusCode::CREATED,
        "apps send no Origin"
    );
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"email": "a@example.com", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_site_request").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_voids_the_other_reset_links() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.auth.smtp_url = Some(smtp.url().into());
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    sign_up(&app, "mia@example.com", None).await;
    for _ in 0..2 {
        let r = post(
            &app,
            "/v1/auth/password-reset",
            None,
            json!({"email": "mia@example.com"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let first = smtp
        .link_token("mia@example.com", "/reset-password", 0)
        .await;
    let second = smtp
        .link_token("mia@example.com", "/reset-password", 1)
        .await;
    assert_ne!(first, second);
    let confirm = |token: String| {
        post(
            &app,
            "/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "password": "a brand new one"}),
        )
    };
    assert_eq!(confirm(second).await.status(), StatusCode::OK);
    assert_error(
        confirm(first).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
}
