//! Checkout routes: place an order (idempotent, stock reserved atomically), pay it through the
//! payment provider, cancel it, and — for its shop — fulfil or refund it.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    Extension, Json,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, parse_id, ApiJson, ApiQuery, Caller},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, OrderId, ProductId, TagId, VariantId, VideoId},
    money::Money,
    time::now_ms,
    videos,
};
use vitrine_identity::principal::Scope;

use crate::{
    orders::{self, Line, NewOrder, Order, OrderStatus, PlaceError, MAX_ITEMS, MAX_QUANTITY},
    payment::{PaymentError, Payments},
    products::{self, ProductStatus},
};

pub fn router(payments: Payments) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order))
        .routes(routes!(get_order))
        .routes(routes!(pay_order))
        .routes(routes!(cancel_order))
        .routes(routes!(fulfil_order))
        .routes(routes!(refund_order))
        .routes(routes!(shop_orders))
        .layer(Extension(payments))
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
                "missing_idempotency_key",
                "send an Idempotency-Key header, unique per purchase, so a retry cannot buy twice",
            )
        })?
        .to_owned();
    if key.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
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
    let new = validate(&state, &buyer, &body, key.clone(), request_hash.clone()).await?;
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
                code: "out_of_stock",
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
        code: "rate_limited",
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
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different order; use a new key for a new purchase",
        ))
    }
}

/// Prices every line from current prices and checks what the order refers to.
async fn validate(
    state: &AppState,
    buyer: &AccountId,
    body: &NewOrderBody,
    key: String,
    request_hash: String,
) -> ApiResult<NewOrder> {
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "invalid_items",
            format!("an order has 1 to {MAX_ITEMS} items"),
        ));
    }
    let mut lines = Vec::new();
    let mut currency: Option<String> = None;
    for item in &body.items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(ApiError::invalid(
                "invalid_quantity",
                format!("quantity must be between 1 and {MAX_QUANTITY}"),
            ));
        }
        let product = item
            .product_id
            .parse::<ProductId>()
            .ok()
            .map(|id| async move { products::get(&state.db, &id).await });
        let product = match product {
            Some(fetch) => fetch.await?,
            None => None,
        }
        .filter(|p| p.status != ProductStatus::Draft)
        .ok_or_else(|| {
            ApiError::invalid(
                "unknown_product",
                format!("{:?} does not name a product", item.product_id),
            )
        })?;
        if product.status != ProductStatus::Active
            || !vitrine_identity::shops::selling(&state.db, &product.shop_id).await?
        {
            return Err(ApiError::invalid(
                "product_not_active",
                format!("{:?} is no longer sold", product.title),
            ));
        }
        let (variant, unit_price, title) = match (&item.variant_id, product.variants.is_empty()) {
            (None, true) => (None, product.price.amount_minor, product.title.clone()),
            (None, false) => {
                return Err(ApiError::invalid(
                    "variant_required",
                    format!("{:?} comes in variants: choose one", product.title),
                ))
            }
            (Some(raw), _) => {
                let variant = raw
                    .parse::<VariantId>()
                    .ok()
                    .and_then(|id| product.variants.iter().find(|v| v.id == id))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "unknown_variant",
                            format!("{raw:?} is not a variant of {:?}", product.title),
                        )
                    })?;
                (
                    Some(variant.id.clone()),
                    variant.price.amount_minor,
                    format!("{} ({})", product.title, variant.sku),
                )
            }
        };
        match &currency {
            None => currency = Some(product.price.currency.clone()),
            Some(c) if *c != product.price.currency => {
                return Err(ApiError::invalid(
                    "mixed_currency",
                    format!(
                        "one order is paid in one currency: {c} and {} cannot be mixed",
                        product.price.currency
                    ),
                ))
            }
            Some(_) => {}
        }
        if lines
            .first()
            .is_some_and(|first: &Line| first.shop != product.shop_id)
        {
            return Err(ApiError::invalid(
                "one_merchant_per_order",
                "an order holds one shop's products: place one order per shop",
            ));
        }
        lines.push(Line {
            product: product.id.clone(),
            variant,
            shop: product.shop_id.clone(),
            title,
            unit_price_minor: unit_price,
            quantity: item.quantity,
            commission_bps: product.commission_bps,
        });
    }
    let video = match &body.video_id {
        None => None,
        Some(raw) => {
            let id = raw.parse::<VideoId>().ok();
            let exists = match &id {
                Some(id) => videos::get(&state.db, id).await?.is_some(),
                None => false,
            };
            if !exists {
                return Err(ApiError::invalid(
                    "unknown_video",
                    "video_id does not name a video",
                ));
            }
            id
        }
    };
    let tag = match (&body.tag_id, &video) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "unknown_tag",
                "tag_id needs the video_id it belongs to",
            ))
        }
        (Some(raw), Some(video)) => {
            let id = raw.parse::<TagId>().ok();
            let placed = match &id {
                Some(id) => crate::tags::placed(&state.db, video, id).await?,
                None => None,
            };
            if placed.is_none() {
                return Err(ApiError::invalid(
                    "unknown_tag",
                    "tag_id does not name a tag of that video",
                ));
            }
            id
        }
    };
    Ok(NewOrder {
        buyer: buyer.clone(),
        idempotency_key: key,
        request_hash,
        lines,
        currency: currency.expect("at least one item"),
        video,
        tag,
        expires_at: now_ms()
            + i64::try_from(state.limits.order_expiry.as_millis()).unwrap_or(i64::MAX / 2),
    })
}

/// The order, for its buyer or the members of its shop.
async fn visible_order(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Order> {
    let id: OrderId = parse_id(id, "order")?;
    let order = orders::get(&state.db, &id)
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
    Path(id): Path<String>,
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
    State(state): State<AppState>,
    Extension(payments): Extension<Payments>,
    caller: Caller,
    Path(id): Path<String>,
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
            "invalid_payment_method",
            "payment_method is a payment-method token (pm_…) from the payment provider; card numbers are never sent here",
        ));
    }
    let paid = |order: OrderView| {
        Json(PaymentView {
            order,
            test_mode: payments.test_mode(),
        })
    };
    match order.status {
        OrderStatus::PendingPayment => {}
        // A retry of a payment that went through (its answer was lost): the paid order, and
        // the attribution redone in case it was what failed.
        OrderStatus::Paid | OrderStatus::Fulfilled => {
            crate::attribution::attribute(&state.db, &order, order.paid_at.unwrap_or_else(now_ms))
                .await?;
            return Ok(paid(reread(&state, &order.id).await?.0));
        }
        _ => return Err(not_in(&order, "waiting for payment")),
    }
    // Claim the order before charging: a second pay, a cancel or the expiry sweep cannot act on
    // it while the card is charged, so it is never charged twice.
    let claimed = orders::transition(
        &state.db,
        &order,
        &[OrderStatus::PendingPayment],
        OrderStatus::Paying,
        false,
        None,
    )
    .await?;
    if !claimed {
        return Err(ApiError::Conflict {
            code: "payment_in_progress",
            message: "the order is being paid or is no longer waiting for payment; fetch it again"
                .into(),
        });
    }
    // The claim counted this attempt: its own provider reference.
    let order = orders::get(&state.db, &order.id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    let reference = order.payment_reference(order.payment_attempts);
    let payment_ref = match charge(&payments, &order, method, &reference).await {
        Ok(payment_ref) => payment_ref,
        Err(e @ PaymentError::Unavailable(_)) => {
            // Whether money moved is not known: the order stays `paying` for the sweep to settle
            // with the provider (`sweep::reconcile`), never charged twice.
            tracing::warn!(order = %order.id, error = %e, "payment outcome unknown; left for reconciliation");
            return Err(ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment_pending",
                "the payment provider did not answer in time; the order is being checked with it: fetch it again in a few minutes",
            ));
        }
        Err(e) => {
            // Not charged: back to waiting for payment.
            orders::transition(
                &state.db,
                &order,
                &[OrderStatus::Paying],
                OrderStatus::PendingPayment,
                false,
                None,
            )
            .await?;
            return Err(match e {
                PaymentError::Declined => ApiError::status(
                    StatusCode::PAYMENT_REQUIRED,
                    "payment_declined",
                    "the card was declined; the order still waits for payment",
                ),
                PaymentError::Retry(_) => ApiError::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment_retry",
                    "the payment provider asks to try again; the order still waits for payment",
                ),
                PaymentError::UnknownMethod(_) => ApiError::invalid(
                    "invalid_payment_method",
                    "the payment provider does not know this payment method",
                ),
                PaymentError::Unavailable(_) => unreachable!("handled above"),
            });
        }
    };
    let paid_at = now_ms();
    let moved = orders::transition(
        &state.db,
        &order,
        &[OrderStatus::Paying],
        OrderStatus::Paid,
        false,
        Some(&payment_ref),
    )
    .await?;
    if !moved {
        // Only this request, or the reconciling sweep, moves a `paying` order on. The sweep
        // found the payment first: the order is paid. It gave up on it first (the provider had
        // not recorded the capture yet): the money goes back, and the buyer is told.
        let now = orders::get(&state.db, &order.id)
            .await?
            .ok_or(ApiError::NotFound("order"))?;
        if matches!(now.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
            return Ok(paid(reread(&state, &order.id).await?.0));
        }
        tracing::warn!(order = %order.id, payment_ref, "payment arrived for an order no longer being paid; refunding it");
        if let Err(e) = payments
            .refund(&payment_ref, &order.total, order.id.as_str())
            .await
        {
            tracing::error!(order = %order.id, payment_ref, error = %e, "could not refund a late payment: refund it by hand");
        }
        return Err(ApiError::Conflict {
            code: "order_not_pending",
            message: "the order stopped waiting for payment meanwhile; the payment was refunded"
                .into(),
        });
    }
    tracing::info!(order = %order.id, test_mode = payments.test_mode(), "order paid");
    crate::attribution::attribute(&state.db, &order, paid_at).await?;
    Ok(paid(reread(&state, &order.id).await?.0))
}

/// Authorizes, then captures; an authorization whose capture fails is voided.
async fn charge(
    payments: &Payments,
    order: &Order,
    method: &str,
    reference: &str,
) -> Result<String, PaymentError> {
    let authorization = payments.authorize(&order.total, method, reference).await?;
    match payments.capture(&authorization, &order.total).await {
        Ok(payment_ref) => Ok(payment_ref),
        Err(e @ PaymentError::Unavailable(_)) => Err(e),
        Err(e) => match payments.void(&authorization).await {
            Ok(()) => Err(e),
            // The money is still held: the order stays `paying`, and the sweep voids it.
            Err(void) => {
                tracing::warn!(order = %order.id, error = %void, "could not void an authorization; the sweep will");
                Err(PaymentError::Unavailable(format!(
                    "the capture failed ({e}) and the authorization is still held"
                )))
            }
        },
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
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    caller.allow(Scope::OrdersWrite)?;
    let order = visible_order(&state, &caller, &id).await?;
    if !caller.is_personal() || &order.buyer != caller.id() {
        return Err(ApiError::forbidden(
            "only the buyer cancels an unpaid order",
        ));
    }
    let from = [OrderStatus::PendingPayment];
    if !orders::transition(&state.db, &order, &from, OrderStatus::Cancelled, true, None).await? {
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
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let order = merchant_order(&state, &caller, &id).await?;
    let from = [OrderStatus::Paid];
    if !orders::transition(
        &state.db,
        &order,
        &from,
        OrderStatus::Fulfilled,
        false,
        None,
    )
    .await?
    {
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
    State(state): State<AppState>,
    Extension(payments): Extension<Payments>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let order = merchant_order(&state, &caller, &id).await?;
    if !matches!(order.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
        return Err(not_in(&order, "paid or fulfilled"));
    }
    // The money goes back first: an order is never marked refunded that the provider did not
    // refund.
    if let Some(payment) = &order.payment_ref {
        // The order id is the refund's idempotency key: two refunds at once refund once.
        payments
            .refund(payment, &order.total, order.id.as_str())
            .await
            .map_err(|e| {
                ApiError::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment_unavailable",
                    format!("the refund did not go through ({e}); nothing changed, try again"),
                )
            })?;
    }
    // Each move is conditional on the state it restocks for, so a refund racing a fulfilment
    // never returns shipped goods to stock.
    let refunded = orders::transition(
        &state.db,
        &order,
        &[OrderStatus::Paid],
        OrderStatus::Refunded,
        true,
        None,
    )
    .await?
        || orders::transition(
            &state.db,
            &order,
            &[OrderStatus::Fulfilled],
            OrderStatus::Refunded,
            false,
            None,
        )
        .await?;
    if !refunded {
        return Err(not_in(&order, "paid or fulfilled"));
    }
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
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ShopOrdersQuery>,
) -> ApiResult<Json<OrderPage>> {
    let shop = crate::http::members_shop(&state, &caller, &id, Scope::OrdersRead).await?;
    let limit = page_limit(q.limit, 20, 100)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::named(s).ok_or_else(|| {
                ApiError::bad_request("invalid_status", format!("{s:?} is not an order status"))
            })
        })
        .transpose()?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<OrderId>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))
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

async fn merchant_order(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Order> {
    caller.allow(Scope::OrdersWrite)?;
    let order = visible_order(state, caller, id).await?;
    if !sells(state, caller, &order).await? {
        return Err(ApiError::forbidden("only the order's shop can do this"));
    }
    Ok(order)
}

fn not_in(order: &Order, expected: &str) -> ApiError {
    ApiError::Conflict {
        code: "invalid_order_state",
        message: format!("the order is {}, not {expected}", order.status.as_str()),
    }
}

async fn reread(state: &AppState, id: &OrderId) -> ApiResult<Json<OrderView>> {
    let order = orders::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(Json((&order).into()))
}
