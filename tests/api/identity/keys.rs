//! API keys and their scopes.

use super::*;

crate::on_each_database!(api_keys_act_within_their_scopes_until_revoked,);

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
