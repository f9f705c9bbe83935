//! The feed's commerce over real HTTP: commerce clips spaced out (at most one in three), a
//! product click making the commerce source propose clips that sell it, a sold-out product's
//! tags leaving the feed, and operators seeing every explanation.

use crate::common::{assert_error, TestApp};
use crate::feed::{feed_as, page};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An operator, a merchant with a serum (an affiliate product), a viewer, and six creators with
/// two ready clips each, the first clip of four of them selling the serum (tagged by the creator:
/// live at once); the feed refreshed.
struct CommerceScene {
    operator: (String, String),
    merchant: (String, String),
    viewer: (String, String),
    product: Value,
    shop_clips: Vec<String>,
}

impl CommerceScene {
    async fn on(app: &TestApp) -> CommerceScene {
        let operator = app.account("admin", "Op").await;
        let merchant = app.account("merchant", "Shop").await;
        let viewer = app.account("viewer", "Vi").await;
        let product = app
            .product(
                &merchant.1,
                json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "EUR"},
                       "stock": 10, "commission_bps": 1000, "category": "skincare"}),
            )
            .await;
        let mut shop_clips = Vec::new();
        for i in 0..6 {
            let creator = app.account("creator", &format!("C{i}")).await;
            let clips = app.ready_clips(&creator.0, 2, 30_000).await;
            if i < 4 {
                // A creator tags an affiliate product into their own clip: live at once.
                let r = app
                    .tag(
                        &creator.1,
                        &clips[0],
                        product["id"].as_str().unwrap(),
                        0,
                        5000,
                    )
                    .await;
                assert_eq!(
                    r.status(),
                    StatusCode::CREATED,
                    "{}",
                    r.text().await.unwrap()
                );
                shop_clips.push(clips[0].clone());
            }
        }
        app.refresh_feed().await;
        CommerceScene {
            operator,
            merchant,
            viewer,
            product,
            shop_clips,
        }
    }

    /// The viewer's feed of up to 50 as the operator sees it, with every explanation.
    async fn explained(&self, app: &TestApp) -> Value {
        page(
            app,
            Some(&self.operator.1),
            &format!("limit=50&debug=1&viewer={}", self.viewer.0),
        )
        .await
    }
}

/// A product's category is one lowercase word, trimmed.
#[tokio::test]
async fn a_products_category_is_one_lowercase_word() {
    let app = TestApp::spawn().await;
    let merchant = app.account("merchant", "Shop").await;
    let product = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant.1)
        .json(
            &json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "EUR"},
                      "stock": 10, "commission_bps": 1000, "category": " Skincare "}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(product.status(), StatusCode::CREATED);
    let product: Value = product.json().await.unwrap();
    assert_eq!(product["category"], "skincare");
    let bad = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(&merchant.1)
        .json(
            &json!({"title": "X", "price": {"amount_minor": 1, "currency": "EUR"},
                      "stock": 1, "category": "no spaces please"}),
        )
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_product").await;
}

/// Operators see every item's explanation; commerce clips come at most one in three.
#[tokio::test]
async fn operators_see_every_explanation_and_commerce_is_spaced_out() {
    let app = TestApp::spawn().await;
    let scene = CommerceScene::on(&app).await;
    let shop_clips = &scene.shop_clips;
    let all = scene.explained(&app).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 12, "{all}");
    assert!(
        items.iter().all(|i| i.get("debug").is_some()),
        "admin sees all"
    );
    let commerce: Vec<bool> = items
        .iter()
        .map(|i| shop_clips.contains(&i["id"].as_str().unwrap().to_owned()))
        .collect();
    let placed: Vec<usize> = commerce
        .iter()
        .enumerate()
        .filter(|(_, c)| **c)
        .map(|(i, _)| i)
        .collect();
    for w in placed.windows(2) {
        assert!(
            w[1] - w[0] >= 3,
            "commerce clips closer than 1 in 3: {placed:?}"
        );
    }
    for (i, item) in items.iter().enumerate() {
        let tags = item["tags"].as_array().unwrap();
        assert_eq!(!tags.is_empty(), commerce[i], "{item}");
        if commerce[i] {
            assert!(
                item["debug"]["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r.as_str().unwrap().starts_with("commerce_cadence")),
                "{item}"
            );
        }
    }
    // A wrong admin token is refused.
    assert_error(
        feed_as(&app, Some("not-the-secret"), "limit=5").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// A viewer who clicks a product gets clips selling it from the commerce source.
#[tokio::test]
async fn a_product_click_makes_commerce_a_source_for_that_viewer() {
    let app = TestApp::spawn().await;
    let scene = CommerceScene::on(&app).await;
    let viewer = &scene.viewer;
    let all = scene.explained(&app).await;
    let items = all["items"].as_array().unwrap();
    // The viewer clicks the serum: the commerce source now proposes serum clips to them.
    let tag = items
        .iter()
        .find(|i| !i["tags"].as_array().unwrap().is_empty())
        .unwrap();
    let r = app.events(&viewer.1,
        json!([{"id": "c1", "viewer_id": viewer.0, "video_id": tag["id"], "type": "product_click",
                "tag_id": tag["tags"][0]["id"]}]),
    )
    .await;
    assert_eq!(r["accepted"], 1, "{r}");
    let again = scene.explained(&app).await;
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["debug"]["sources"]
                .as_array()
                .unwrap()
                .contains(&json!("commerce"))),
        "{again}"
    );
}

/// A sold-out product's tags leave the feed.
#[tokio::test]
async fn a_sold_out_products_tags_leave_the_feed() {
    let app = TestApp::spawn().await;
    let scene = CommerceScene::on(&app).await;
    let (product, merchant, operator) = (&scene.product, &scene.merchant, &scene.operator);
    let r = app
        .client
        .patch(app.url(&format!("/v1/products/{}", product["id"].as_str().unwrap())))
        .bearer_auth(&merchant.1)
        .json(&json!({"stock": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.refresh_feed().await;
    let sold_out = page(&app, Some(&operator.1), "limit=50").await;
    for item in sold_out["items"].as_array().unwrap() {
        assert_eq!(item["tags"], json!([]), "{item}");
    }
}
