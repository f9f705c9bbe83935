//! Signing up, in and out; sessions ending; anonymous viewers signing up; failed sign-ins;
//! cross-site requests. (Mail links: `mail.rs`.)

use super::*;

crate::on_each_database!(
    signing_up_starts_a_session_in_a_cookie,
    bad_sign_ups_get_their_own_answer_and_create_nothing,
    signing_in_takes_any_case_and_a_wrong_password_looks_like_an_unknown_email,
    sessions_are_listed_and_ended_one_or_all_at_a_time,
    the_cookie_signs_pages_in_and_writes_must_come_from_them,
    sessions_end_on_their_idle_timeout_and_lifetime,
    an_anonymous_viewer_keeps_their_history_when_signing_up_or_in,
    a_session_signed_out_on_one_process_stops_working_on_every_process,
);

/// Signs Mia up (password "carrot lip balm"); her session token.
async fn mia(app: &TestApp) -> String {
    let r = post(
        app,
        "/v1/auth/signup",
        None,
        json!({"email": "mia@example.com", "password": "carrot lip balm", "display_name": "Mia"}),
    )
    .await;
    json_of(r, StatusCode::CREATED).await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    post(
        app,
        "/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// A new session of `email` signing in with `password`.
async fn session(app: &TestApp, email: &str, password: &str) -> String {
    json_of(login(app, email, password).await, StatusCode::OK).await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signing up answers the account and a session, also as an HTTP-only cookie that lasts as
/// long as the session can; the email is normalized, the name trimmed.
async fn signing_up_starts_a_session_in_a_cookie(db: DbKind) {
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
}

/// Bad input, each with its own answer; nothing is created.
async fn bad_sign_ups_get_their_own_answer_and_create_nothing(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    mia(&app).await;
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
}

/// Sign in (any case of the email); a wrong password and an unknown email look the same.
async fn signing_in_takes_any_case_and_a_wrong_password_looks_like_an_unknown_email(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let first = mia(&app).await;
    let second = session(&app, "MIA@example.com", "carrot lip balm").await;
    assert_ne!(second, first, "a session of its own");
    let me = json_of(get(&app, "/v1/me", Some(&second)).await, StatusCode::OK).await;
    assert_eq!(me["email"], "mia@example.com");
    let wrong = assert_error(
        login(&app, "mia@example.com", "carrot lip bal").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_error(
        login(&app, "nobody@example.com", "carrot lip balm").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong["error"]["message"], unknown["error"]["message"]);
}

/// Sessions are listed with the current one marked, and end one at a time, all but this one,
/// or this one (clearing the cookie).
async fn sessions_are_listed_and_ended_one_or_all_at_a_time(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let token = mia(&app).await;
    let second = session(&app, "mia@example.com", "carrot lip balm").await;
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
    let third = session(&app, "mia@example.com", "carrot lip balm").await;
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
}

/// The cookie signs the pages in; a request that changes something must come from them.
async fn the_cookie_signs_pages_in_and_writes_must_come_from_them(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let token = mia(&app).await;
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

async fn a_session_signed_out_on_one_process_stops_working_on_every_process(db: DbKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(crate::common::fresh_postgres_url().await.into());
    }
    let one = TestApp::spawn_with(config.clone(), vitrine::Role::All, Some(dir)).await;
    let two = TestApp::spawn_with(config, vitrine::Role::Api, None).await;
    let token = sign_up(&one, "ana@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for app in [&one, &two] {
        assert_eq!(
            get(app, "/v1/me", Some(&token)).await.status(),
            StatusCode::OK
        );
    }
    let r = post(&two, "/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        get(&two, "/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    let ended = std::time::Instant::now();
    loop {
        let r = get(&one, "/v1/me", Some(&token)).await;
        if r.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            ended.elapsed() < Duration::from_secs(2),
            "a session signed out on another process still worked after {:?}",
            ended.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_slow_down_then_get_429_with_retry_after() {
    // Two API processes on one database: the failures are counted where both see them.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::test_config(dir.path());
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
