//! Operators, and accounts from before sign-up existed.

use super::*;

crate::on_each_database!(
    operators_suspend_and_restore_accounts,
    accounts_from_before_identity_become_persons,
);

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
        DbKind::Postgres => crate::common::fresh_postgres_url().await,
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
    db.apply(&before).await.unwrap();
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
