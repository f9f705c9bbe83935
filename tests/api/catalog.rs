//! The catalog over real HTTP, on SQLite and on PostgreSQL: products with descriptions, status,
//! affiliate commission and variants; merchants change only their own; listing with filters and
//! pagination; bad input refused with a code and nothing written.

use crate::common::{assert_error, DbKind, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn post_product(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/products"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/v1/products?{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn products_variants_status_and_ownership(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let shop_id = app.shop_of(&merchant).await;
    let (_, rival) = app.account("merchant", "Rival").await;
    let (_, creator) = app.account("creator", "Mia").await;

    let r = post_product(
        &app,
        &merchant,
        json!({
            "title": "Glow serum",
            "description": "Vitamin C, daily.",
            "price": {"amount_minor": 2500, "currency": "EUR"},
            "status": "draft",
            "commission_bps": 1500,
            "variants": [
                {"sku": "GS-30", "options": {"size": "30 ml"}, "stock": 0},
                {"sku": "GS-50", "options": {"size": "50 ml"}, "price": {"amount_minor": 3900, "currency": "EUR"}, "stock": 4}
            ]
        }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let product: Value = r.json().await.unwrap();
    let id = product["id"].as_str().unwrap().to_owned();
    assert_eq!(product["status"], "draft");
    assert_eq!(product["commission_bps"], 1500);
    assert_eq!(product["shop_id"], shop_id);
    assert_eq!(product["in_stock"], true, "one variant has stock");
    assert_eq!(product["variants"][0]["price"]["amount_minor"], 2500);
    assert_eq!(product["variants"][0]["in_stock"], false);
    assert_eq!(product["variants"][1]["price"]["amount_minor"], 3900);

    // A draft is the merchant's own business.
    let r = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .get(app.url(&format!("/v1/products/{id}")))
        .bearer_auth(&merchant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Only the owner changes it.
    let path = format!("/v1/products/{id}");
    let r = patch(&app, &rival, &path, json!({"status": "active"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = patch(&app, &creator, &path, json!({"status": "active"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = patch(&app, &merchant, "/v1/products/prd_nope", json!({})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = patch(
        &app,
        &merchant,
        &path,
        json!({"status": "active", "title": "Glow serum+", "price": {"amount_minor": 2700, "currency": "EUR"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let product: Value = r.json().await.unwrap();
    assert_eq!(product["status"], "active");
    assert_eq!(product["title"], "Glow serum+");
    assert_eq!(product["description"], "Vitamin C, daily.", "untouched");
    assert_eq!(app.get(&path).await.status(), StatusCode::OK, "now public");
    // Variants are priced in the product's currency: it cannot change under them.
    let r = patch(
        &app,
        &merchant,
        &path,
        json!({"price": {"amount_minor": 2700, "currency": "USD"}}),
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_product").await;

    // Variants: a new one, a duplicate SKU, a stock change.
    let r = app
        .client
        .post(app.url(&format!("{path}/variants")))
        .bearer_auth(&merchant)
        .json(&json!({"sku": "GS-100", "options": {"size": "100 ml"}, "stock": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let product: Value = r.json().await.unwrap();
    assert_eq!(product["variants"].as_array().unwrap().len(), 3);
    let r = app
        .client
        .post(app.url(&format!("{path}/variants")))
        .bearer_auth(&merchant)
        .json(&json!({"sku": "GS-30", "stock": 1}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_product").await;
    for variant in product["variants"].as_array().unwrap() {
        let r = patch(
            &app,
            &merchant,
            &format!("{path}/variants/{}", variant["id"].as_str().unwrap()),
            json!({"stock": 0}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let product: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(product["in_stock"], false, "every variant sold out");
    let r = patch(
        &app,
        &rival,
        &format!(
            "{path}/variants/{}",
            product["variants"][0]["id"].as_str().unwrap()
        ),
        json!({"stock": 5}),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = patch(
        &app,
        &merchant,
        &format!("{path}/variants/var_nope"),
        json!({"stock": 5}),
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

async fn listing_filters_and_pages(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let shop_id = app.shop_of(&merchant).await;
    let (_, other) = app.account("merchant", "Other").await;
    let mut ids = Vec::new();
    for (i, stock) in [3, 0, 5, 0, 1].into_iter().enumerate() {
        let r = post_product(
            &app,
            &merchant,
            json!({"title": format!("P{i}"), "price": {"amount_minor": 100 + i, "currency": "USD"}, "stock": stock}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    post_product(
        &app,
        &merchant,
        json!({"title": "Secret", "price": {"amount_minor": 1, "currency": "USD"}, "stock": 9, "status": "draft"}),
    )
    .await;
    post_product(
        &app,
        &other,
        json!({"title": "Theirs", "price": {"amount_minor": 1, "currency": "USD"}, "stock": 9}),
    )
    .await;

    // Pages of 2 over this merchant's active products, newest first, no repeats, no gaps.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("shop_id={shop_id}&limit=2&cursor={c}"),
            None => format!("shop_id={shop_id}&limit=2"),
        };
        let page: Value = list(&app, None, &query).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["status"], "active");
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let in_stock: Value = list(&app, None, &format!("shop_id={shop_id}&in_stock=true"))
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<_> = in_stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["P4", "P2", "P0"]);
    let sold_out: Value = list(&app, None, &format!("shop_id={shop_id}&in_stock=false"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sold_out["items"].as_array().unwrap().len(), 2);
    let everyone: Value = list(&app, None, "limit=100").await.json().await.unwrap();
    assert_eq!(
        everyone["items"].as_array().unwrap().len(),
        6,
        "both merchants, no draft"
    );

    // Drafts: only to their merchant.
    let r = list(&app, None, &format!("shop_id={shop_id}&status=draft")).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = list(
        &app,
        Some(&other),
        &format!("shop_id={shop_id}&status=draft"),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let drafts: Value = list(
        &app,
        Some(&merchant),
        &format!("shop_id={shop_id}&status=draft"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(drafts["items"][0]["title"], "Secret");
    assert_eq!(drafts["items"].as_array().unwrap().len(), 1);

    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("cursor=bogus", "invalid_cursor"),
        ("shop_id=nobody", "invalid_shop_id"),
    ] {
        let r = list(&app, None, query).await;
        assert_error(r, StatusCode::BAD_REQUEST, code).await;
    }
    let r = list(&app, None, "status=sold").await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

async fn bad_products_are_refused_and_nothing_is_written(db: DbKind) {
    let app = TestApp::spawn_on(db).await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let shop_id = app.shop_of(&merchant).await;
    let price =
        |amount: Value, currency: &str| json!({"amount_minor": amount, "currency": currency});
    for body in [
        json!({"title": "x", "price": price(json!(-1), "USD"), "stock": 1}),
        json!({"title": "x", "price": price(json!(1_000_000_000_001i64), "USD"), "stock": 1}),
        json!({"title": "x", "price": price(json!(1), "XYZ"), "stock": 1}),
        json!({"title": "x", "price": price(json!(1), "USD"), "stock": 10_000_000_000i64}),
        json!({"title": "x", "price": price(json!(1), "USD"), "commission_bps": 10_001}),
        json!({"title": "x", "price": price(json!(1), "USD"), "commission_bps": -5}),
        json!({"title": "", "price": price(json!(1), "USD")}),
        json!({"title": "x", "price": price(json!(1), "USD"), "variants": [{"sku": "", "stock": 1}]}),
        json!({"title": "x", "price": price(json!(1), "USD"), "variants": [{"sku": "A", "stock": 1, "price": price(json!(1), "EUR")}]}),
    ] {
        let r = post_product(&app, &merchant, body.clone()).await;
        let err: Value = {
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            r.json().await.unwrap()
        };
        assert_eq!(err["error"]["code"], "invalid_product", "{body}: {err}");
    }
    // Fractional money and unknown fields are not accepted either.
    for body in [
        json!({"title": "x", "price": price(json!(12.5), "USD"), "stock": 1}),
        json!({"title": "x", "price": price(json!(1), "USD"), "colour": "red"}),
        json!({"title": "x", "price": price(json!(1), "USD"), "status": "sold"}),
    ] {
        let r = post_product(&app, &merchant, body.clone()).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    }
    let page: Value = list(&app, Some(&merchant), &format!("shop_id={shop_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]), "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn product_images_are_stored_at_several_widths_and_served() {
    let app = TestApp::spawn().await;
    let (_, merchant) = app.account("merchant", "Glow Co").await;
    let (_, rival) = app.account("merchant", "Rival").await;
    let r = post_product(
        &app,
        &merchant,
        json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "EUR"}, "stock": 3}),
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/products/{id}/images");
    let picture = {
        let image = image::RgbImage::from_fn(1600, 900, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    let send = |token: &str, content_type: &str, body: Vec<u8>| {
        app.client
            .post(app.url(&path))
            .bearer_auth(token.to_owned())
            .header("Content-Type", content_type.to_owned())
            .body(body)
            .send()
    };

    let r = send(&rival, "image/png", picture.clone()).await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = send(&merchant, "text/plain", picture.clone())
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = send(&merchant, "image/png", b"not a picture".to_vec())
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "not_an_image").await;

    let r = send(&merchant, "image/png", picture).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let product: Value = r.json().await.unwrap();
    let image = &product["images"][0];
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(1600), Some(900))
    );
    let widths: Vec<_> = image["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, [1200, 600, 300]);
    let (status, headers, bytes) = app.fetch(image["sizes"][1]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (600, 337));
    // Listed with the product for everyone.
    let listed: Value = app
        .get(&format!("/v1/products/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["images"], product["images"]);

    let image_path = format!("{path}/{}", image["id"].as_str().unwrap());
    let r = app.delete(&image_path, &rival).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.delete(&image_path, &merchant).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, ..) = app.fetch(image["sizes"][1]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = app.delete(&image_path, &merchant).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

crate::on_each_database!(
    products_variants_status_and_ownership,
    listing_filters_and_pages,
    bad_products_are_refused_and_nothing_is_written,
);
