//! Creators, shops and their staff.

use super::*;

crate::on_each_database!(
    a_person_becomes_a_creator_under_a_free_handle,
    a_seller_opens_a_shop_and_its_products_belong_to_it,
    staff_join_only_by_accepted_invitation_and_leave_or_are_removed,
    a_shops_staff_see_and_fulfil_its_orders,
);

/// `(token, account id)` of a new account signed up with `email`.
async fn person(app: &TestApp, email: &str) -> (String, String) {
    let signed = sign_up(app, email, None).await;
    (
        signed["token"].as_str().unwrap().to_owned(),
        signed["account"]["id"].as_str().unwrap().to_owned(),
    )
}

/// The id of the shop `token`'s account opens, named `name`.
async fn open_shop(app: &TestApp, token: &str, name: &str) -> String {
    let shop = json_of(
        post(app, "/v1/shops", Some(token), json!({"name": name})).await,
        StatusCode::CREATED,
    )
    .await;
    shop["id"].as_str().unwrap().to_owned()
}

async fn a_person_becomes_a_creator_under_a_free_handle(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (mia_token, _) = person(&app, "mia@example.com").await;
    let (bo_token, _) = person(&app, "bo@example.com").await;

    // Not a creator yet: uploading is refused with the way forward.
    let r = app
        .upload(
            &mia_token,
            &crate::common::media("mb_rotate-buck-bunny.mp4"),
            "x",
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "not_a_creator").await;
    for handle in ["mi", "mia lu", "admin"] {
        assert_error(
            post(
                &app,
                "/v1/me/creator",
                Some(&mia_token),
                json!({"handle": handle}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_handle",
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
}

async fn a_seller_opens_a_shop_and_its_products_belong_to_it(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (mia_token, _) = person(&app, "mia@example.com").await;
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
    let shop_id = open_shop(&app, &mia_token, "Mia's merch").await;
    let product = json_of(
        app.create_product(&mia_token, "Tote", 3000, "USD", 3).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(product["shop_id"], shop_id.as_str());
    let me = app.get_json("/v1/me", Some(&mia_token)).await;
    assert_eq!(me["shops"][0]["role"], "owner");
}

/// Staff are invited by email by the owner only, and join only with their consent and a
/// verified email; the answer to an invitation does not tell whether the email has an account.
async fn staff_join_only_by_accepted_invitation_and_leave_or_are_removed(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (mia_token, mia_id) = person(&app, "mia@example.com").await;
    let (bo_token, bo_id) = person(&app, "bo@example.com").await;
    let shop_id = open_shop(&app, &mia_token, "Mia's merch").await;
    let product = json_of(
        app.create_product(&mia_token, "Tote", 3000, "USD", 3).await,
        StatusCode::CREATED,
    )
    .await;

    let members = format!("/v1/shops/{shop_id}/members");
    let invite = |token: String, body: Value| {
        let (app, members) = (&app, members.clone());
        async move { post(app, &members, Some(&token), body).await }
    };
    for (token, body, status, code) in [
        (
            &bo_token,
            json!({"email": "bo@example.com", "role": "staff"}),
            StatusCode::FORBIDDEN,
            "not_shop_owner",
        ),
        (
            &mia_token,
            json!({"email": "bo@example.com", "role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_role",
        ),
        (
            &mia_token,
            json!({"email": "bo", "role": "staff"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
    ] {
        assert_error(invite(token.clone(), body).await, status, code).await;
    }
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
    // Someone not invited cannot join, verified or not.
    let (stranger, _) = person(&app, "eve@example.com").await;
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

    // A member changes the shop's products and reads its analytics.
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

    // The owner stays; staff are removed by the owner, or leave on their own.
    let remove = |token: String, who: String| {
        let (app, members) = (&app, members.clone());
        async move {
            send(
                app,
                reqwest::Method::DELETE,
                &format!("{members}/{who}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    assert_error(
        remove(mia_token.clone(), mia_id.clone()).await,
        StatusCode::CONFLICT,
        "owner_stays",
    )
    .await;
    for (round, remover) in [&mia_token, &bo_token].into_iter().enumerate() {
        if round > 0 {
            hire(&app, &shop_id, &mia_token, "bo@example.com", &bo_token).await;
            assert_eq!(patch(bo_token.clone()).await.status(), StatusCode::OK);
        }
        let r = remove(remover.clone(), bo_id.clone()).await;
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
    }
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
