//! Mail links: email verification and password resets, through a real SMTP server (aiosmtpd)
//! of each test's own, or written as `.eml` files without one.

use super::*;

crate::on_each_database!(
    mail_confirms_an_email_with_a_link_that_works_once,
    a_mailed_reset_link_sets_a_new_password_once_and_ends_every_session,
);

/// An API mailing through a real SMTP server of its own.
async fn mailing_app(db: DbKind) -> (SmtpServer, TestApp) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.auth.smtp_url = Some(smtp.url().into());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(crate::common::fresh_postgres_url().await.into());
    }
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    (smtp, app)
}

/// Signing up mails a verification link; it works once.
async fn mail_confirms_an_email_with_a_link_that_works_once(db: DbKind) {
    let (smtp, app) = mailing_app(db).await;
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
}

/// A reset is always 202 and mails only people who have an account; its link sets a new
/// (strong) password once and ends every session of that account, no one else's.
async fn a_mailed_reset_link_sets_a_new_password_once_and_ends_every_session(db: DbKind) {
    let (smtp, app) = mailing_app(db).await;
    let token = sign_up(&app, "mia@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
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
async fn a_password_reset_voids_the_other_reset_links() {
    let (smtp, app) = mailing_app(DbKind::Sqlite).await;
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
