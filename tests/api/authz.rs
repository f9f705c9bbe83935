//! The authorization matrix: every route of the API × every kind of caller → the status it
//! gets, on SQLite and PostgreSQL.
//!
//! The routes come from the router itself (its OpenAPI document, generated from the handlers):
//! a route without an entry here fails the test, as does an entry for a route that is gone. The
//! tus creation endpoint, which the document does not describe, has an entry of its own.
//!
//! Each request runs in a world of its own (a creator who owns a clip, a shop with its owner and
//! staff, other people, an operator, a suspended account), made fresh for every request that
//! can change something, so no row of the table depends on another.
//!
//! (About 1,200 lines: the matrix is one table, a row per route and kind of caller, and is read
//! and extended whole.)

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{DbKind, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine_core::ids::AccountId;
use vitrine_identity::{
    accounts::{self, NewAccount, Role},
    api_keys,
    principal::Scope,
    script::{self, ScriptRole},
    sessions, shops,
};

crate::on_each_database!(every_route_answers_every_caller_as_the_matrix_says);

/// The kinds of caller, in the order of the expectation columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// No credentials.
    Anonymous,
    /// An anonymous viewer's session (`POST /v1/auth/anonymous`).
    AnonSession,
    /// A signed-up person with nothing to do with the resource.
    Other,
    /// The resource's owner: the clip's creator, the order's buyer, the account itself.
    Owner,
    /// A staff member of the shop involved.
    Staff,
    /// The owner of the shop involved.
    ShopOwner,
    /// An API key with the scope the route needs (held by whoever the route is for).
    KeyWith,
    /// An API key with every scope but that one.
    KeyWithout,
    /// The owner's session, past its lifetime.
    Expired,
    /// A session of a suspended account.
    Suspended,
    /// An operator (`role = admin`).
    Operator,
}

const EVERYONE: [Who; 11] = [
    Who::Anonymous,
    Who::AnonSession,
    Who::Other,
    Who::Owner,
    Who::Staff,
    Who::ShopOwner,
    Who::KeyWith,
    Who::KeyWithout,
    Who::Expired,
    Who::Suspended,
    Who::Operator,
];

/// Whose API key the `KeyWith`/`KeyWithout` columns use.
#[derive(Clone, Copy, Debug)]
enum KeyFor {
    /// The owner's own key (creator, buyer, the account itself).
    Owner,
    /// A key of the shop, made by its owner.
    Shop,
}

struct Entry {
    method: &'static str,
    /// The route as the OpenAPI document names it.
    route: &'static str,
    /// The request's path, with fixtures in braces (see `World::fill`).
    path: &'static str,
    /// The JSON body (fixtures in braces too), if any.
    body: Option<&'static str>,
    /// The scope an API key needs (`None`: no scope lets a key in, or any key will do).
    scope: Option<Scope>,
    key_for: KeyFor,
    /// Expected statuses, one per `EVERYONE` column.
    expect: [u16; 11],
}

/// A row of the matrix: `e("GET", "/v1/…", "/v1/…", body, scope, key_for, "401 200 …")`.
fn e(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    scope: Option<Scope>,
    key_for: KeyFor,
    expect: &str,
) -> Entry {
    let codes: Vec<u16> = expect
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    Entry {
        method,
        route,
        path,
        body,
        scope,
        key_for,
        expect: codes
            .try_into()
            .unwrap_or_else(|c: Vec<u16>| panic!("{method} {route}: {} columns, not 11", c.len())),
    }
}

/// Every route. Columns: anonymous, anon-session, other, owner, staff, shop-owner, key-with,
/// key-without, expired, suspended, operator.
fn matrix() -> Vec<Entry> {
    use KeyFor::{Owner as O, Shop as S};
    use Scope::*;
    let product =
        r#"{"title": "Balm", "price": {"amount_minor": 900, "currency": "EUR"}, "stock": 3}"#;
    vec![
        // Operations: open to anyone, credentials or not.
        e(
            "get",
            "/healthz",
            "/healthz",
            None,
            None,
            O,
            "200 200 200 200 200 200 200 200 200 200 200",
        ),
        e(
            "get",
            "/metrics",
            "/metrics",
            None,
            None,
            O,
            "200 200 200 200 200 200 200 200 200 200 200",
        ),
        // Signing up and in: a dead session never stands in the way.
        e(
            "post",
            "/v1/auth/signup",
            "/v1/auth/signup",
            Some(
                r#"{"email": "{fresh}@example.com", "password": "carrot lip balm", "display_name": "New"}"#,
            ),
            None,
            O,
            "201 201 201 201 201 201 201 201 201 201 201",
        ),
        e(
            "post",
            "/v1/auth/login",
            "/v1/auth/login",
            Some(r#"{"email": "pat@example.com", "password": "carrot lip balm"}"#),
            None,
            O,
            "200 200 200 200 200 200 200 200 200 200 200",
        ),
        e(
            "post",
            "/v1/auth/anonymous",
            "/v1/auth/anonymous",
            None,
            None,
            O,
            "201 201 201 201 201 201 201 201 201 201 201",
        ),
        e(
            "post",
            "/v1/auth/password-reset",
            "/v1/auth/password-reset",
            Some(r#"{"email": "pat@example.com"}"#),
            None,
            O,
            "202 202 202 202 202 202 202 202 202 202 202",
        ),
        e(
            "post",
            "/v1/auth/password-reset/confirm",
            "/v1/auth/password-reset/confirm",
            Some(r#"{"token": "vl_unknown", "password": "carrot lip balm"}"#),
            None,
            O,
            "400 400 400 400 400 400 400 400 400 400 400",
        ),
        e(
            "post",
            "/v1/auth/verify-email",
            "/v1/auth/verify-email",
            Some(r#"{"token": "vl_unknown"}"#),
            None,
            O,
            "400 400 400 400 400 400 400 400 400 400 400",
        ),
        // Sessions: only a session ends sessions.
        e(
            "post",
            "/v1/auth/logout",
            "/v1/auth/logout",
            None,
            None,
            O,
            "401 204 204 204 204 204 403 403 401 401 204",
        ),
        e(
            "post",
            "/v1/auth/logout-all",
            "/v1/auth/logout-all",
            None,
            None,
            O,
            "401 200 200 200 200 200 403 403 401 401 200",
        ),
        e(
            "get",
            "/v1/me",
            "/v1/me",
            None,
            None,
            O,
            "401 200 200 200 200 200 200 200 401 401 200",
        ),
        e(
            "post",
            "/v1/me/creator",
            "/v1/me/creator",
            Some(r#"{"handle": "h{fresh}"}"#),
            None,
            O,
            "401 403 200 409 200 200 403 403 401 401 200",
        ),
        e(
            "post",
            "/v1/me/verify-email",
            "/v1/me/verify-email",
            None,
            None,
            O,
            "401 403 202 202 202 202 403 403 401 401 202",
        ),
        e(
            "get",
            "/v1/me/sessions",
            "/v1/me/sessions",
            None,
            None,
            O,
            "401 200 200 200 200 200 403 403 401 401 200",
        ),
        e(
            "delete",
            "/v1/me/sessions/{id}",
            "/v1/me/sessions/{owner_session}",
            None,
            None,
            O,
            "401 404 404 204 404 404 403 403 401 401 404",
        ),
        // Shops.
        e(
            "post",
            "/v1/shops",
            "/v1/shops",
            Some(r#"{"name": "Shop {fresh}"}"#),
            None,
            O,
            "401 403 201 201 201 201 403 403 401 401 201",
        ),
        e(
            "get",
            "/v1/shops/{id}",
            "/v1/shops/{shop}",
            None,
            Some(ProductsRead),
            S,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "get",
            "/v1/shops/{id}/members",
            "/v1/shops/{shop}/members",
            None,
            None,
            S,
            "401 403 403 403 200 200 403 403 401 401 403",
        ),
        e(
            "post",
            "/v1/shops/{id}/members",
            "/v1/shops/{shop}/members",
            Some(r#"{"email": "{newcomer_email}", "role": "staff"}"#),
            None,
            S,
            "401 403 403 403 403 202 403 403 401 401 403",
        ),
        // The owner removes staff; a staff member may leave.
        e(
            "delete",
            "/v1/shops/{id}/members/{account_id}",
            "/v1/shops/{shop}/members/{staff_id}",
            None,
            None,
            S,
            "401 403 403 403 204 204 403 403 401 401 403",
        ),
        // Joining takes an invitation to one's verified email: nobody here has one.
        e(
            "post",
            "/v1/shops/{id}/join",
            "/v1/shops/{shop}/join",
            None,
            None,
            S,
            "401 403 404 404 404 404 403 403 401 401 404",
        ),
        e(
            "get",
            "/v1/me/invitations",
            "/v1/me/invitations",
            None,
            None,
            O,
            "401 403 200 200 200 200 403 403 401 401 200",
        ),
        e(
            "get",
            "/v1/shops/{id}/analytics",
            "/v1/shops/{shop}/analytics",
            None,
            Some(AnalyticsRead),
            S,
            "401 403 403 403 200 200 200 403 401 401 403",
        ),
        e(
            "get",
            "/v1/shops/{id}/blocked-affiliates",
            "/v1/shops/{shop}/blocked-affiliates",
            None,
            Some(ProductsRead),
            S,
            "401 403 403 403 200 200 200 403 401 401 403",
        ),
        e(
            "put",
            "/v1/shops/{id}/blocked-affiliates/{account_id}",
            "/v1/shops/{shop}/blocked-affiliates/{other_id}",
            None,
            Some(ProductsWrite),
            S,
            "401 403 403 403 204 204 204 403 401 401 403",
        ),
        // Nobody is blocked in a fresh world: the shop's side gets past the door to a 404.
        e(
            "delete",
            "/v1/shops/{id}/blocked-affiliates/{account_id}",
            "/v1/shops/{shop}/blocked-affiliates/{other_id}",
            None,
            Some(ProductsWrite),
            S,
            "401 403 403 403 404 404 404 403 401 401 403",
        ),
        e(
            "get",
            "/v1/shops/{id}/orders",
            "/v1/shops/{shop}/orders",
            None,
            Some(OrdersRead),
            S,
            "401 403 403 403 200 200 200 403 401 401 403",
        ),
        // API keys: made and revoked with a session.
        e(
            "post",
            "/v1/api-keys",
            "/v1/api-keys",
            Some(r#"{"name": "k", "scopes": ["products:read"]}"#),
            None,
            O,
            "401 403 201 201 201 201 403 403 401 401 201",
        ),
        e(
            "get",
            "/v1/api-keys",
            "/v1/api-keys",
            None,
            None,
            O,
            "401 200 200 200 200 200 403 403 401 401 200",
        ),
        e(
            "delete",
            "/v1/api-keys/{id}",
            "/v1/api-keys/{owner_key}",
            None,
            None,
            O,
            "401 404 404 204 404 404 403 403 401 401 404",
        ),
        // Operators.
        e(
            "get",
            "/v1/admin/accounts",
            "/v1/admin/accounts",
            None,
            None,
            O,
            "401 403 403 403 403 403 403 403 401 401 200",
        ),
        e(
            "post",
            "/v1/admin/accounts/{id}/suspend",
            "/v1/admin/accounts/{other_id}/suspend",
            Some(r#"{"reason": "spam"}"#),
            None,
            O,
            "401 403 403 403 403 403 403 403 401 401 200",
        ),
        e(
            "post",
            "/v1/admin/accounts/{id}/restore",
            "/v1/admin/accounts/{suspended_id}/restore",
            None,
            None,
            O,
            "401 403 403 403 403 403 403 403 401 401 200",
        ),
        // Clips (the owner is their creator). Upload bodies are not videos: past the door, 422.
        e(
            "post",
            "/v1/videos",
            "/v1/videos",
            Some("not a video"),
            Some(VideosWrite),
            O,
            "401 403 403 422 403 403 422 403 401 401 403",
        ),
        e(
            "get",
            "/v1/videos/{id}",
            "/v1/videos/{video}",
            None,
            Some(VideosRead),
            O,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "delete",
            "/v1/videos/{id}",
            "/v1/videos/{video}",
            None,
            Some(VideosWrite),
            O,
            "401 403 403 204 403 403 204 403 401 401 403",
        ),
        e(
            "get",
            "/v1/creators/me/videos",
            "/v1/creators/me/videos",
            None,
            Some(VideosRead),
            O,
            "401 403 403 200 403 403 200 403 401 401 403",
        ),
        e(
            "post",
            "/v1/direct-uploads",
            "/v1/direct-uploads",
            Some("{}"),
            Some(VideosWrite),
            O,
            "401 403 403 201 403 403 201 403 401 401 403",
        ),
        e(
            "get",
            "/v1/creators/me/earnings",
            "/v1/creators/me/earnings",
            None,
            Some(AnalyticsRead),
            O,
            "401 403 403 200 403 403 200 403 401 401 403",
        ),
        // Products (the shop's).
        e(
            "post",
            "/v1/products",
            "/v1/products",
            Some(product),
            Some(ProductsWrite),
            S,
            "401 403 403 403 201 201 201 403 401 401 403",
        ),
        e(
            "get",
            "/v1/products",
            "/v1/products",
            None,
            Some(ProductsRead),
            S,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "get",
            "/v1/products/{id}",
            "/v1/products/{product}",
            None,
            Some(ProductsRead),
            S,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "patch",
            "/v1/products/{id}",
            "/v1/products/{product}",
            Some(r#"{"stock": 7}"#),
            Some(ProductsWrite),
            S,
            "401 403 403 403 200 200 200 403 401 401 403",
        ),
        e(
            "post",
            "/v1/products/{id}/variants",
            "/v1/products/{product}/variants",
            Some(r#"{"sku": "M-{fresh}", "stock": 2}"#),
            Some(ProductsWrite),
            S,
            "401 403 403 403 201 201 201 403 401 401 403",
        ),
        e(
            "patch",
            "/v1/products/{id}/variants/{variant_id}",
            "/v1/products/{product}/variants/{variant}",
            Some(r#"{"stock": 4}"#),
            Some(ProductsWrite),
            S,
            "401 403 403 403 200 200 200 403 401 401 403",
        ),
        e(
            "post",
            "/v1/products/{id}/images",
            "/v1/products/{product}/images",
            Some("{png}"),
            Some(ProductsWrite),
            S,
            "401 403 403 403 201 201 201 403 401 401 403",
        ),
        e(
            "delete",
            "/v1/products/{id}/images/{image_id}",
            "/v1/products/{product}/images/{image}",
            None,
            Some(ProductsWrite),
            S,
            "401 403 403 403 204 204 204 403 401 401 403",
        ),
        // Tags: the clip's creator (an affiliate product) or the shop (pending) place them.
        e(
            "post",
            "/v1/videos/{id}/tags",
            "/v1/videos/{video}/tags",
            Some(
                r#"{"product_id": "{product}", "variant_id": "{variant}", "start_ms": 0, "end_ms": 1000}"#,
            ),
            Some(VideosWrite),
            O,
            "401 403 403 201 201 201 201 403 401 401 403",
        ),
        e(
            "get",
            "/v1/videos/{id}/tags",
            "/v1/videos/{video}/tags",
            None,
            Some(VideosRead),
            O,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "post",
            "/v1/videos/{id}/tags/{tag_id}/approve",
            "/v1/videos/{video}/tags/{tag}/approve",
            None,
            Some(VideosWrite),
            O,
            "401 403 403 200 403 403 200 403 401 401 403",
        ),
        e(
            "post",
            "/v1/videos/{id}/tags/{tag_id}/reject",
            "/v1/videos/{video}/tags/{tag}/reject",
            None,
            Some(VideosWrite),
            O,
            "401 403 403 200 403 403 200 403 401 401 403",
        ),
        e(
            "delete",
            "/v1/videos/{id}/tags/{tag_id}",
            "/v1/videos/{video}/tags/{tag}",
            None,
            Some(VideosWrite),
            O,
            "401 403 403 204 204 204 204 403 401 401 403",
        ),
        // Orders (the owner is the buyer; the shop fulfils and refunds).
        e(
            "post",
            "/v1/orders",
            "/v1/orders",
            Some(
                r#"{"viewer_id": "{me}", "items": [{"product_id": "{product}", "variant_id": "{variant}", "quantity": 1}]}"#,
            ),
            Some(OrdersWrite),
            O,
            "401 403 201 201 201 201 201 403 401 401 201",
        ),
        e(
            "get",
            "/v1/orders/{id}",
            "/v1/orders/{order}",
            None,
            Some(OrdersRead),
            O,
            "401 404 404 200 200 200 200 403 401 401 404",
        ),
        e(
            "post",
            "/v1/orders/{id}/pay",
            "/v1/orders/{order}/pay",
            Some(r#"{"payment_method": "pm_card_approved"}"#),
            Some(OrdersWrite),
            O,
            "401 404 404 200 403 403 200 403 401 401 404",
        ),
        e(
            "post",
            "/v1/orders/{id}/cancel",
            "/v1/orders/{order}/cancel",
            None,
            Some(OrdersWrite),
            O,
            "401 404 404 200 403 403 200 403 401 401 404",
        ),
        e(
            "post",
            "/v1/orders/{id}/fulfil",
            "/v1/orders/{paid_order}/fulfil",
            None,
            Some(OrdersWrite),
            S,
            "401 404 404 403 200 200 200 403 401 401 404",
        ),
        e(
            "post",
            "/v1/orders/{id}/refund",
            "/v1/orders/{paid_order}/refund",
            None,
            Some(OrdersWrite),
            S,
            "401 404 404 403 200 200 200 403 401 401 404",
        ),
        // The feed and its events: every account is a viewer.
        e(
            "get",
            "/v1/feed",
            "/v1/feed",
            None,
            Some(VideosRead),
            O,
            "200 200 200 200 200 200 200 403 401 401 200",
        ),
        e(
            "post",
            "/v1/events",
            "/v1/events",
            Some(
                r#"{"events": [{"id": "e{fresh}", "viewer_id": "{me}", "video_id": "{video}", "type": "impression"}]}"#,
            ),
            Some(EventsWrite),
            O,
            "401 200 200 200 200 200 200 403 401 401 200",
        ),
        // Resumable uploads (tus): creators start them; the upload's URL is the capability for
        // the rest, whoever holds it (a credential sent along is not read).
        e(
            "post",
            "/v1/uploads",
            "/v1/uploads",
            Some("{tus}"),
            Some(VideosWrite),
            O,
            "401 403 403 201 403 403 201 403 401 401 403",
        ),
        e(
            "head",
            "/v1/uploads/{id}",
            "/v1/uploads/{upload}",
            Some("{tus-only}"),
            None,
            O,
            "200 200 200 200 200 200 200 200 200 200 200",
        ),
        e(
            "patch",
            "/v1/uploads/{id}",
            "/v1/uploads/{upload}",
            Some("{tus-patch}"),
            None,
            O,
            "204 204 204 204 204 204 204 204 204 204 204",
        ),
        e(
            "delete",
            "/v1/uploads/{id}",
            "/v1/uploads/{upload}",
            Some("{tus-only}"),
            None,
            O,
            "204 204 204 204 204 204 204 204 204 204 204",
        ),
        e(
            "post",
            "/v1/direct-uploads/{id}",
            "/v1/direct-uploads/{direct}",
            Some("{tus}"),
            None,
            O,
            "201 201 201 201 201 201 201 201 201 201 201",
        ),
    ]
}

/// Routes that are not in the OpenAPI document but have entries.
const UNDOCUMENTED: [(&str, &str); 0] = [];

struct Person {
    id: AccountId,
}

/// The accounts and things one request may touch.
struct World {
    owner: Person,
    shop_owner: Person,
    staff: Person,
    other: Person,
    operator: Person,
    suspended: Person,
    anon: Person,
    shop: String,
    product: String,
    variant: String,
    video: String,
}

async fn person(app: &TestApp, role: ScriptRole, name: &str) -> Person {
    let made = script::create(&app.state.db, &app.state.sessions, role, name)
        .await
        .unwrap();
    Person { id: made.id }
}

async fn session(app: &TestApp, who: &Person) -> String {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    sessions::start(&mut conn, &app.state.sessions, &who.id, Some("authz"))
        .await
        .unwrap()
        .token
}

impl World {
    async fn new(app: &TestApp) -> World {
        let owner = person(app, ScriptRole::Creator, "Owner").await;
        let shop_owner = person(app, ScriptRole::Merchant, "Shop Owner").await;
        let staff = person(app, ScriptRole::Viewer, "Staff").await;
        let shop = shops::memberships(&app.state.db, &shop_owner.id)
            .await
            .unwrap()[0]
            .0
            .id
            .clone();
        shops::add_staff(&app.state.db, &shop, &staff.id)
            .await
            .unwrap();
        let suspended = person(app, ScriptRole::Viewer, "Suspended").await;
        accounts::set_suspended(&app.state.db, &suspended.id, Some("test"))
            .await
            .unwrap();
        let anon = vitrine_identity::auth::anonymous(&app.state.db, &app.state.sessions, None)
            .await
            .unwrap()
            .0;
        let video = app
            .ready_clips(owner.id.as_str(), 1, 20_000)
            .await
            .remove(0);
        let so_token = session(app, &shop_owner).await;
        let product: Value = app
            .client
            .post(app.url("/v1/products"))
            .bearer_auth(&so_token)
            .json(
                &json!({"title": "Serum", "price": {"amount_minor": 2500, "currency": "EUR"},
                          "commission_bps": 1000,
                          "variants": [{"sku": "S", "stock": 50}]}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        World {
            owner,
            staff,
            other: person(app, ScriptRole::Viewer, "Other").await,
            operator: person(app, ScriptRole::Admin, "Operator").await,
            suspended,
            anon: Person { id: anon.id },
            shop: shop.to_string(),
            product: product["id"].as_str().unwrap().to_owned(),
            variant: product["variants"][0]["id"].as_str().unwrap().to_owned(),
            video,
            shop_owner,
        }
    }

    /// The value of fixture `name` (made on first use), for a request by `me`.
    async fn fixture(&self, app: &TestApp, name: &str, me: &AccountId, fresh: &str) -> String {
        let so = || session(app, &self.shop_owner);
        let owner = || session(app, &self.owner);
        match name {
            "fresh" => fresh.to_owned(),
            "me" => me.to_string(),
            "shop" => self.shop.clone(),
            "product" => self.product.clone(),
            "variant" => self.variant.clone(),
            "video" => self.video.clone(),
            "staff_id" => self.staff.id.to_string(),
            "other_id" => self.other.id.to_string(),
            "suspended_id" => self.suspended.id.to_string(),
            "owner_session" => {
                let mut conn = app.state.db.pool().acquire().await.unwrap();
                sessions::start(&mut conn, &app.state.sessions, &self.owner.id, None)
                    .await
                    .unwrap()
                    .id
                    .to_string()
            }
            "owner_key" => api_keys::create(
                &app.state.db,
                &self.owner.id,
                "k",
                &[Scope::VideosRead],
                None,
            )
            .await
            .unwrap()
            .key
            .id
            .to_string(),
            // An upload the owner started: its id (the tail of its Location).
            "upload" => {
                let r = app
                    .client
                    .post(app.url("/v1/uploads"))
                    .bearer_auth(owner().await)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Length", "1000")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let location = r.headers()["location"].to_str().unwrap().to_owned();
                location.rsplit('/').next().unwrap().to_owned()
            }
            // A one-time upload URL the owner asked for.
            "direct" => {
                let r = app
                    .client
                    .post(app.url("/v1/direct-uploads"))
                    .bearer_auth(owner().await)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            "newcomer_email" => {
                let email = format!("n{fresh}@example.com");
                let mut tx = app.state.db.begin().await.unwrap();
                accounts::insert(
                    &mut tx,
                    NewAccount {
                        role: Role::User,
                        display_name: "Newcomer",
                        email: Some(&email),
                        password_hash: None,
                        handle: None,
                        anonymous: false,
                    },
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                email
            }
            "tag" => {
                let tag: Value = app
                    .client
                    .post(app.url(&format!("/v1/videos/{}/tags", self.video)))
                    .bearer_auth(so().await)
                    .json(
                        &json!({"product_id": self.product, "variant_id": self.variant,
                                  "start_ms": 0, "end_ms": 1000}),
                    )
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(tag["status"], "pending", "{tag}");
                tag["id"].as_str().unwrap().to_owned()
            }
            "order" | "paid_order" => {
                let token = owner().await;
                let order: Value = app
                    .client
                    .post(app.url("/v1/orders"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", fresh)
                    .json(
                        &json!({"viewer_id": self.owner.id, "items": [{"product_id": self.product,
                                  "variant_id": self.variant, "quantity": 1}]}),
                    )
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = order["id"].as_str().unwrap().to_owned();
                if name == "paid_order" {
                    let r = app
                        .client
                        .post(app.url(&format!("/v1/orders/{id}/pay")))
                        .bearer_auth(&token)
                        .json(&json!({"payment_method": "pm_card_approved"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                }
                id
            }
            "image" => {
                let product: Value = app
                    .client
                    .post(app.url(&format!("/v1/products/{}/images", self.product)))
                    .bearer_auth(so().await)
                    .header("content-type", "image/png")
                    .body(png())
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                product["images"][0]["id"].as_str().unwrap().to_owned()
            }
            other => panic!("no fixture {other:?}"),
        }
    }

    /// `template` with each `{name}` (lower-case letters and `_`) replaced by its fixture;
    /// other braces (a JSON body's) are left as they are.
    async fn fill(&self, app: &TestApp, template: &str, me: &AccountId, fresh: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let name: String = rest[start + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && rest[start + 1 + name.len()..].starts_with('}') {
                out.push_str(&self.fixture(app, &name, me, fresh).await);
                rest = &rest[start + name.len() + 2..];
            } else {
                out.push('{');
                rest = &rest[start + 1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The credential `who` calls with, and the account it stands for.
    async fn credential(
        &self,
        app: &TestApp,
        who: Who,
        entry: &Entry,
    ) -> (Option<String>, AccountId) {
        let (key_holder, shop) = match entry.key_for {
            KeyFor::Owner => (&self.owner, None),
            KeyFor::Shop => (&self.shop_owner, Some(self.shop.parse().unwrap())),
        };
        let key = |scopes: Vec<Scope>| {
            let shop = shop.clone();
            async move {
                api_keys::create(
                    &app.state.db,
                    &key_holder.id,
                    "authz",
                    &scopes,
                    shop.as_ref(),
                )
                .await
                .unwrap()
                .secret
            }
        };
        let as_session = |p: &Person| {
            let id = p.id.clone();
            async move {
                let token = session(app, &Person { id: id.clone() }).await;
                (Some(token), id)
            }
        };
        match who {
            Who::Anonymous => (None, self.owner.id.clone()),
            Who::AnonSession => as_session(&self.anon).await,
            Who::Other => as_session(&self.other).await,
            Who::Owner => as_session(&self.owner).await,
            Who::Staff => as_session(&self.staff).await,
            Who::ShopOwner => as_session(&self.shop_owner).await,
            Who::Operator => as_session(&self.operator).await,
            Who::Suspended => as_session(&self.suspended).await,
            Who::Expired => {
                let (token, id) = as_session(&self.owner).await;
                sqlx::query(
                    "UPDATE sessions SET created_at = created_at - $1 WHERE token_hash = $2",
                )
                .bind(31 * 24 * 3600 * 1000i64)
                .bind(vitrine_identity::hash_secret(token.as_ref().unwrap()))
                .execute(app.state.db.pool())
                .await
                .unwrap();
                (token, id)
            }
            Who::KeyWith => {
                let scopes = match entry.scope {
                    Some(scope) => vec![scope],
                    None => Scope::ALL.to_vec(),
                };
                (Some(key(scopes).await), key_holder.id.clone())
            }
            Who::KeyWithout => {
                let scopes = match entry.scope {
                    Some(scope) => Scope::ALL.into_iter().filter(|s| *s != scope).collect(),
                    None => vec![Scope::VideosRead],
                };
                (Some(key(scopes).await), key_holder.id.clone())
            }
        }
    }
}

fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// A small real PNG.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn every_route_answers_every_caller_as_the_matrix_says(db: DbKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(crate::common::fresh_postgres_url().await.into());
    }
    // The matrix places an order per cell as one account; budgets are `hardening.rs`'s subject.
    config.server.rate_limits.enabled = false;
    let app = TestApp::spawn_with(config, vitrine::Role::Api, Some(dir)).await;
    let matrix = matrix();

    // The table covers the router: every documented operation has a row, every row a route.
    let doc = app.get_json("/openapi.json", None).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let rows: BTreeSet<(String, String)> = matrix
        .iter()
        .map(|e| (e.method.to_owned(), e.route.to_owned()))
        .filter(|r| !UNDOCUMENTED.contains(&(r.0.as_str(), r.1.as_str())))
        .collect();
    let missing: Vec<_> = documented.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    let stale: Vec<_> = rows.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );

    // A person with a password, for the sign-in row.
    let r = app
        .client
        .post(app.url("/v1/auth/signup"))
        .json(&json!({"email": "pat@example.com", "password": "carrot lip balm", "display_name": "Pat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut shared: Option<World> = None;
    let mut n = 0u32;
    for entry in &matrix {
        for (who, expected) in EVERYONE.iter().zip(entry.expect) {
            n += 1;
            let fresh = format!("{n}x{:08x}", rand_suffix());
            // Reads share one world; anything that may change something gets its own.
            let own;
            let world = if entry.method == "get" {
                if shared.is_none() {
                    shared = Some(World::new(&app).await);
                }
                shared.as_ref().unwrap()
            } else {
                own = World::new(&app).await;
                &own
            };
            let (credential, me) = world.credential(&app, *who, entry).await;
            let path = world.fill(&app, entry.path, &me, &fresh).await;
            let method =
                reqwest::Method::from_bytes(entry.method.to_uppercase().as_bytes()).unwrap();
            let mut request = app
                .client
                .request(method, app.url(&path))
                .header("Idempotency-Key", &fresh);
            if let Some(token) = &credential {
                request = request.bearer_auth(token);
            }
            request = match entry.body {
                None => request,
                Some("{png}") => request.header("content-type", "image/png").body(png()),
                Some("{tus}") => request
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Length", "1000"),
                Some("{tus-only}") => request.header("Tus-Resumable", "1.0.0"),
                Some("{tus-patch}") => request
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Offset", "0")
                    .header("content-type", "application/offset+octet-stream")
                    .body(vec![0u8; 10]),
                Some("not a video") => request
                    .header("content-type", "video/mp4")
                    .body("not a video"),
                Some(template) => {
                    let body = world.fill(&app, template, &me, &fresh).await;
                    request
                        .header("content-type", "application/json")
                        .body(body)
                }
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            if status != expected {
                let body = response.text().await.unwrap_or_default();
                wrong
                    .entry(format!("{} {}", entry.method.to_uppercase(), entry.route))
                    .or_default()
                    .push(format!(
                        "{who:?}: {status}, expected {expected} ({body:.160})"
                    ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {n} answers differ from the matrix:\n{}",
        wrong.values().map(Vec::len).sum::<usize>(),
        wrong
            .iter()
            .map(|(route, whos)| format!("{route}\n    {}", whos.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
