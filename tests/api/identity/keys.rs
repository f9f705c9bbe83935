//! API keys and their scopes.

use super::*;

crate::on_each_database!(
    bad_key_requests_are_refused_and_only_the_owner_makes_shop_keys,
    a_key_acts_within_its_scopes_and_never_manages_the_account,
    a_shop_key_acts_for_the_shop_only_and_a_personal_key_never_for_a_shop,
    keys_are_listed_without_their_secret_and_stop_when_revoked,
);

/// A merchant's shop with one staff member: `(app, owner's token, shop id, staff's token)`.
async fn shop_with_staff(db: DbKind) -> (TestApp, String, String, String) {
    let app = TestApp::spawn_on(db).await;
    let (_, owner) = app.account("merchant", "Glow Co").await;
    let shop = app.shop_of(&owner).await;
    let staff = sign_up(&app, "staff@example.com", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    hire(&app, &shop, &owner, "staff@example.com", &staff).await;
    (app, owner, shop, staff)
}

/// The shop's key "Catalog sync" (products:read and products:write), as created.
async fn catalog_key(app: &TestApp, owner: &str, shop: &str) -> Value {
    json_of(
        post(app, "/v1/api-keys", Some(owner), json!({"name": "Catalog sync", "scopes": ["products:write", "products:read"], "shop_id": shop})).await,
        StatusCode::CREATED,
    )
    .await
}

async fn bad_key_requests_are_refused_and_only_the_owner_makes_shop_keys(db: DbKind) {
    let (app, owner, shop, staff_token) = shop_with_staff(db).await;
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
    let key = catalog_key(&app, &owner, &shop).await;
    let secret = key["secret"].as_str().unwrap();
    assert!(secret.starts_with("vk_live_") && secret.starts_with(key["prefix"].as_str().unwrap()));
    assert_eq!(key["scopes"], json!(["products:read", "products:write"]));
}

/// In scope, a key acts; out of scope it gets 403 naming the scope; sessions and keys are
/// managed by a signed-in person only, never by a key.
async fn a_key_acts_within_its_scopes_and_never_manages_the_account(db: DbKind) {
    let (app, owner, shop, _) = shop_with_staff(db).await;
    let secret = catalog_key(&app, &owner, &shop).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
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
}

/// A shop's key acts for the shop only, never as the person who made it; a personal key (a
/// staff member's) never acts for a shop.
async fn a_shop_key_acts_for_the_shop_only_and_a_personal_key_never_for_a_shop(db: DbKind) {
    let (app, owner, shop, staff_token) = shop_with_staff(db).await;
    let product = json_of(
        app.create_product(&owner, "Serum", 2500, "EUR", 5).await,
        StatusCode::CREATED,
    )
    .await;
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
}

/// Keys are listed without their secret, with their last use; only the owner revokes a shop's
/// key, and a revoked key stops at once.
async fn keys_are_listed_without_their_secret_and_stop_when_revoked(db: DbKind) {
    let (app, owner, shop, staff_token) = shop_with_staff(db).await;
    let key = catalog_key(&app, &owner, &shop).await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    json_of(
        app.create_product(&secret, "Serum", 2500, "EUR", 5).await,
        StatusCode::CREATED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = json_of(
        get(&app, "/v1/api-keys", Some(&owner)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
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
