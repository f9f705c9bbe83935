//! Checkout routes: place an order (idempotent, stock reserved atomically), pay it through the
//! payment provider, cancel it, and — for its shop — fulfil or refund it.

use axum::{
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiJson, ApiQuery, Caller, Id},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, OrderId, ShopId},
    money::Money,
};
use vitrine_identity::principal::Scope;

use crate::{
    codes,
    orders::{self, Order, OrderStatus, PlaceError},
    payment::{self, PayError, Payments},
    pricing::{self, ItemRequest, OrderRequest, Refusal},
};

/// What the checkout's routes need: the application's state and the payment provider.
#[derive(Clone)]
pub struct CheckoutState {
    pub app: AppState,
    pub payments: Payments,
}

impl FromRef<CheckoutState> for AppState {
    fn from_ref(state: &CheckoutState) -> AppState {
        state.app.clone()
    }
}

pub fn router<S>(app: AppState, payments: Payments) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(place_order))
        .routes(routes!(get_order))
        .routes(routes!(pay_order))
        .routes(routes!(cancel_order))
        .routes(routes!(fulfil_order))
        .routes(routes!(refund_order))
        .routes(routes!(shop_orders))
        .with_state(CheckoutState { app, payments })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemBody {
    pub product_id: String,
    pub variant_id: Option<String>,
    #[schema(example = 1)]
    pub quantity: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    /// The buyer: must be the signed-in account.
    pub viewer_id: String,
    pub items: Vec<OrderItemBody>,
    /// The video the purchase started from, for attribution.
    pub video_id: Option<String>,
    /// The product tag tapped in that video.
    pub tag_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: String,
    pub variant_id: Option<String>,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub subtotal: Money,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub viewer_id: String,
    /// `pending_payment`, `paying` (the card is being charged), `paid`, `fulfilled`,
    /// `cancelled` or `refunded`.
    pub status: String,
    pub items: Vec<OrderLineView>,
    pub total: Money,
    pub video_id: Option<String>,
    pub tag_id: Option<String>,
    /// Unpaid after this (Unix seconds), the order is cancelled and its stock released.
    pub expires_at: i64,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let money = |amount_minor| Money {
            amount_minor,
            currency: o.total.currency.clone(),
        };
        OrderView {
            id: o.id.to_string(),
            viewer_id: o.buyer.to_string(),
            status: o.status.as_str().to_owned(),
            items: o
                .lines
                .iter()
                .map(|l| OrderLineView {
                    product_id: l.product.to_string(),
                    variant_id: l.variant.as_ref().map(ToString::to_string),
                    title: l.title.clone(),
                    unit_price: money(l.unit_price_minor),
                    quantity: l.quantity,
                    subtotal: money(l.unit_price_minor * l.quantity),
                })
                .collect(),
            total: o.total.clone(),
            video_id: o.video.as_ref().map(ToString::to_string),
            tag_id: o.tag.as_ref().map(ToString::to_string),
            expires_at: o.expires_at / 1000,
        }
    }
}

/// Place an order. Send an `Idempotency-Key` header (any unique string per purchase): a retry
/// with the same key and body returns the same order; the same key with another body is
/// refused. Stock is reserved at once; the order waits for payment until it expires.
#[utoipa::path(post, path = "/v1/orders", tag = "checkout",
    request_body = NewOrderBody,
    params(("Idempotency-Key" = String, Header, description = "unique per purchase attempt: 1 to 255 visible characters", pattern = "^[!-~]{1,255}$")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:write"])),
    responses(
        (status = 201, body = OrderView), (status = 200, body = OrderView, description = "a retry: the order placed before"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "out_of_stock"),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited: too many orders (Retry-After)"),
    ))]
async fn place_order(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewOrderBody>,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let buyer = caller.allow(Scope::OrdersWrite)?.person()?.id.clone();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                codes::MISSING_IDEMPOTENCY_KEY,
                "send an Idempotency-Key header, unique per purchase, so a retry cannot buy twice",
            )
        })?
        .to_owned();
    if key.len() > 255 {
        return Err(ApiError::bad_request(
            codes::INVALID_IDEMPOTENCY_KEY,
            "Idempotency-Key is at most 255 characters",
        ));
    }
    if body.viewer_id != buyer.as_str() {
        return Err(ApiError::forbidden("viewer_id must be your own account"));
    }
    let request_hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&body).map_err(anyhow::Error::new)?,
    ));
    if let Some(existing) = orders::by_key(&state.db, &buyer, &key).await? {
        return retry(existing, &request_hash);
    }
    hourly_orders(&state, &buyer).await?;
    let request = OrderRequest {
        buyer: &buyer,
        items: body
            .items
            .iter()
            .map(|item| ItemRequest {
                product_id: &item.product_id,
                variant_id: item.variant_id.as_deref(),
                quantity: item.quantity,
            })
            .collect(),
        video_id: body.video_id.as_deref(),
        tag_id: body.tag_id.as_deref(),
        idempotency_key: key.clone(),
        request_hash: request_hash.clone(),
        expires_after: state.limits.order_expiry,
    };
    let new = pricing::price(&state.db, request).await?;
    match orders::place(&state.db, new).await {
        Ok(order) => {
            tracing::info!(order = %order.id, total = order.total.amount_minor, currency = %order.total.currency, "order placed");
            Ok((StatusCode::CREATED, Json((&order).into())))
        }
        Err(PlaceError::OutOfStock { title, quantity }) => {
            // A retry racing its own original: the original took the stock, and is the answer.
            if let Some(existing) = orders::by_key(&state.db, &buyer, &key).await? {
                return retry(existing, &request_hash);
            }
            Err(ApiError::Conflict {
                code: codes::OUT_OF_STOCK,
                message: format!("not enough {title:?} in stock for {quantity}"),
            })
        }
        Err(PlaceError::KeyUsed(existing)) => retry(*existing, &request_hash),
        Err(PlaceError::Db(e)) => Err(e.into()),
    }
}

/// 429 once the buyer placed `orders_per_hour` orders in the last hour: counted in the
/// database, so the limit holds however many API processes share it (a retry of an order
/// already placed is answered before this).
async fn hourly_orders(state: &AppState, buyer: &AccountId) -> ApiResult<()> {
    const HOUR_MS: i64 = 3_600_000;
    let limits = state.rate.config();
    if !limits.enabled {
        return Ok(());
    }
    let now = vitrine_core::time::now_ms();
    let (placed, oldest) = orders::placed_since(&state.db, buyer, now - HOUR_MS).await?;
    if placed < i64::from(limits.orders_per_hour) {
        return Ok(());
    }
    let wait_ms = oldest.map_or(HOUR_MS, |at| at + HOUR_MS - now).max(1000);
    Err(ApiError::RateLimited {
        code: vitrine_api::codes::RATE_LIMITED,
        message: format!(
            "at most {} orders an hour; retry in {} s",
            limits.orders_per_hour,
            wait_ms / 1000
        ),
        retry_after_secs: u64::try_from(wait_ms / 1000).unwrap_or(1),
    })
}

/// A request with a key already used: the same request gets its order, another one is refused.
fn retry(existing: Order, request_hash: &str) -> ApiResult<(StatusCode, Json<OrderView>)> {
    if existing.request_hash == request_hash {
        Ok((StatusCode::OK, Json((&existing).into())))
    } else {
        Err(ApiError::invalid(
            codes::IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used for a different order; use a new key for a new purchase",
        ))
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> Self {
        match e {
            Refusal::Db(e) => e.into(),
            Refusal::Internal(e) => e.into(),
            refused => ApiError::invalid(refused.code(), refused.to_string()),
        }
    }
}

/// The order, for its buyer or the members of its shop.
async fn visible_order(state: &AppState, caller: &Caller, id: &OrderId) -> ApiResult<Order> {
    let order = orders::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    let buyer = caller.is_personal() && &order.buyer == caller.id();
    if !buyer && !sells(state, caller, &order).await? {
        return Err(ApiError::NotFound("order"));
    }
    Ok(order)
}

/// Whether the caller acts for the shop that sold the order.
async fn sells(state: &AppState, caller: &Caller, order: &Order) -> ApiResult<bool> {
    match order.lines.first() {
        Some(line) => caller.acts_for(state, &line.shop).await,
        None => Ok(false),
    }
}

/// An order (its buyer and its shop's members only).
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "checkout",
    params(("id" = String, Path, description = "Order id (ord_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:read"])),
    responses((status = 200, body = OrderView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<OrderId>,
) -> ApiResult<Json<OrderView>> {
    caller.allow(Scope::OrdersRead)?;
    Ok(Json((&visible_order(&state, &caller, &id).await?).into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// A payment-method token (`pm_…`) the buyer's app got from the payment provider for
    /// their card: card numbers never reach this API. The embedded test provider takes
    /// `pm_card_approved`, `pm_card_declined` (402), `pm_card_retry` (503, try again) and
    /// `pm_card_slow` (its answer is lost: the order stays `paying` until reconciled).
    #[schema(pattern = "^pm_[A-Za-z0-9_]{1,100}$", example = "pm_card_approved")]
    pub payment_method: String,
}

/// An order as its payment left it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    #[serde(flatten)]
    pub order: OrderView,
    /// True with the test provider: no money moved.
    pub test_mode: bool,
}

/// Pay your order with a payment-method token: the provider authorizes the amount, then
/// captures it. A declined card leaves the order waiting for payment; when the provider does
/// not answer in time the order stays `paying` and is settled in the background by asking the
/// provider (fetch it again in a few minutes).
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "checkout",
    params(("id" = String, Path, description = "Order id (ord_…)")),
    request_body = PayBody,
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:write"])),
    responses(
        (status = 200, body = PaymentView),
        (status = 401, body = ErrorBody), (status = 402, body = ErrorBody, description = "payment_declined"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_payment_method"),
        (status = 503, body = ErrorBody, description = "payment_retry (try again) or payment_pending (the order is being settled)"),
    ))]
async fn pay_order(
    State(CheckoutState {
        app: state,
        payments,
    }): State<CheckoutState>,
    caller: Caller,
    Id(id): Id<OrderId>,
    ApiJson(body): ApiJson<PayBody>,
) -> ApiResult<Json<PaymentView>> {
    caller.allow(Scope::OrdersWrite)?;
    let order = visible_order(&state, &caller, &id).await?;
    if !caller.is_personal() || &order.buyer != caller.id() {
        return Err(ApiError::forbidden("only the buyer pays for an order"));
    }
    let method = body.payment_method.trim();
    if !method.starts_with("pm_") || method.len() > 103 {
        return Err(ApiError::invalid(
            codes::INVALID_PAYMENT_METHOD,
            "payment_method is a payment-method token (pm_…) from the payment provider; card numbers are never sent here",
        ));
    }
    payment::pay(&state.db, &payments, &order, method).await?;
    Ok(Json(PaymentView {
        order: reread(&state, &order.id).await?.0,
        test_mode: payments.test_mode(),
    }))
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        let message = e.to_string();
        let unavailable =
            |code| ApiError::status(StatusCode::SERVICE_UNAVAILABLE, code, message.clone());
        match e {
            PayError::WrongState { .. } => ApiError::Conflict {
                code: codes::INVALID_ORDER_STATE,
                message,
            },
            PayError::InProgress => ApiError::Conflict {
                code: codes::PAYMENT_IN_PROGRESS,
                message,
            },
            PayError::OutcomeUnknown => unavailable(codes::PAYMENT_PENDING),
            PayError::Declined => ApiError::status(
                StatusCode::PAYMENT_REQUIRED,
                codes::PAYMENT_DECLINED,
                message,
            ),
            PayError::Retry => unavailable(codes::PAYMENT_RETRY),
            PayError::UnknownMethod => ApiError::invalid(codes::INVALID_PAYMENT_METHOD, message),
            PayError::RefundedLate => ApiError::Conflict {
                code: codes::ORDER_NOT_PENDING,
                message,
            },
            PayError::RefundFailed(_) => unavailable(codes::PAYMENT_UNAVAILABLE),
            PayError::OrderGone => ApiError::NotFound("order"),
            PayError::Db(e) => e.into(),
        }
    }
}

/// Cancel your unpaid order: its stock is released.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "checkout",
    params(("id" = String, Path, description = "Order id (ord_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:write"])),
    responses((status = 200, body = OrderView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<OrderId>,
) -> ApiResult<Json<OrderView>> {
    caller.allow(Scope::OrdersWrite)?;
    let order = visible_order(&state, &caller, &id).await?;
    if !caller.is_personal() || &order.buyer != caller.id() {
        return Err(ApiError::forbidden(
            "only the buyer cancels an unpaid order",
        ));
    }
    if !orders::cancel_unpaid(&state.db, &order).await? {
        return Err(not_in(&order, "waiting for payment"));
    }
    reread(&state, &order.id).await
}

/// Mark a paid order shipped (its shop's members only).
#[utoipa::path(post, path = "/v1/orders/{id}/fulfil", tag = "checkout",
    params(("id" = String, Path, description = "Order id (ord_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:write"])),
    responses((status = 200, body = OrderView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn fulfil_order(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<OrderId>,
) -> ApiResult<Json<OrderView>> {
    let order = merchant_order(&state, &caller, &id).await?;
    if !orders::fulfil(&state.db, &order).await? {
        return Err(not_in(&order, "paid"));
    }
    reread(&state, &order.id).await
}

/// Refund a paid or fulfilled order (its shop's members only). A paid order not yet shipped returns
/// its stock.
#[utoipa::path(post, path = "/v1/orders/{id}/refund", tag = "checkout",
    params(("id" = String, Path, description = "Order id (ord_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:write"])),
    responses((status = 200, body = OrderView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn refund_order(
    State(CheckoutState {
        app: state,
        payments,
    }): State<CheckoutState>,
    caller: Caller,
    Id(id): Id<OrderId>,
) -> ApiResult<Json<OrderView>> {
    let order = merchant_order(&state, &caller, &id).await?;
    payment::refund(&state.db, &payments, &order).await?;
    reread(&state, &order.id).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShopOrdersQuery {
    /// Only orders in this status (`paid`: the ones to ship).
    pub status: Option<String>,
    /// Items per page, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// The shop's orders, newest first (its members): `?status=paid` lists what is left to ship.
#[utoipa::path(get, path = "/v1/shops/{id}/orders", tag = "checkout",
    params(("id" = String, Path, description = "Shop id (shp_…)"), ShopOrdersQuery),
    security(("session" = []), ("cookie" = []), ("api_key" = ["orders:read"])),
    responses((status = 200, body = OrderPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn shop_orders(
    State(state): State<AppState>,
    caller: Caller,
    Id(shop): Id<ShopId>,
    ApiQuery(q): ApiQuery<ShopOrdersQuery>,
) -> ApiResult<Json<OrderPage>> {
    super::members_shop(&state, &caller, &shop, Scope::OrdersRead).await?;
    let limit = page_limit(q.limit, 20, 100)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::named(s).ok_or_else(|| {
                ApiError::bad_request(
                    codes::INVALID_STATUS,
                    format!("{s:?} is not an order status"),
                )
            })
        })
        .transpose()?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<OrderId>()
                .map_err(|_| ApiError::bad_request(codes::INVALID_CURSOR, "cursor is not valid"))
        })
        .transpose()?;
    let mut page = orders::for_shop(&state.db, &shop, status, after.as_ref(), limit + 1).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    Ok(Json(OrderPage {
        next_cursor: more
            .then(|| page.last().map(|o| o.id.to_string()))
            .flatten(),
        items: page.iter().map(OrderView::from).collect(),
    }))
}

async fn merchant_order(state: &AppState, caller: &Caller, id: &OrderId) -> ApiResult<Order> {
    caller.allow(Scope::OrdersWrite)?;
    let order = visible_order(state, caller, id).await?;
    if !sells(state, caller, &order).await? {
        return Err(ApiError::forbidden("only the order's shop can do this"));
    }
    Ok(order)
}

fn not_in(order: &Order, expected: &str) -> ApiError {
    ApiError::Conflict {
        code: codes::INVALID_ORDER_STATE,
        message: format!("the order is {}, not {expected}", order.status.as_str()),
    }
}

async fn reread(state: &AppState, id: &OrderId) -> ApiResult<Json<OrderView>> {
    let order = orders::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(Json((&order).into()))
}
