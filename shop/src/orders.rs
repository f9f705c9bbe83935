//! Orders: stock reserved atomically when an order is placed, never oversold.
//!
//! Placing an order is one transaction whose first statements are conditional decrements
//! (`UPDATE … SET stock = stock - q WHERE … AND stock >= q`): on PostgreSQL each takes the row's
//! lock, on SQLite the first write takes the database's write lock (waiting on `busy_timeout`),
//! so concurrent buyers of the last units are serialized by the database itself and exactly as
//! many succeed as there are units. A buyer's `Idempotency-Key` is unique per buyer: a retry
//! finds the order already placed (same request → same order; different request → refused).
//!
//! Lifecycle: `pending_payment → paying → paid → fulfilled` (`paying → pending_payment` when the
//! card is declined), `pending_payment → cancelled` (stock released; also when unpaid past
//! `expires_at`), `paid | fulfilled → refunded`.

use sqlx::{any::AnyRow, FromRow, Row};
use vitrine_core::{
    db::{column::UnknownName, Db},
    ids::{AccountId, OrderId, ProductId, ShopId, TagId, VariantId, VideoId},
    money::{Currency, Money},
    time::now_ms,
};

/// Largest quantity of one item.
pub const MAX_QUANTITY: i64 = 1000;
/// Most items in one order.
pub const MAX_ITEMS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    PendingPayment,
    /// Claimed by a payment request while the card is charged.
    Paying,
    Paid,
    Fulfilled,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paying => "paying",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// The status a client names, if it is one.
    pub fn named(s: &str) -> Option<OrderStatus> {
        [
            OrderStatus::PendingPayment,
            OrderStatus::Paying,
            OrderStatus::Paid,
            OrderStatus::Fulfilled,
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

impl std::str::FromStr for OrderStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<OrderStatus, UnknownName> {
        OrderStatus::named(s).ok_or_else(|| UnknownName::new("order status", s))
    }
}

vitrine_core::text_column!(OrderStatus, str::parse::<OrderStatus>);

/// One line of an order, priced when it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product: ProductId,
    pub variant: Option<VariantId>,
    /// The shop that sells it.
    pub shop: ShopId,
    pub title: String,
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub commission_bps: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub buyer: AccountId,
    pub status: OrderStatus,
    pub total: Money,
    pub lines: Vec<Line>,
    pub video: Option<VideoId>,
    pub tag: Option<TagId>,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub request_hash: String,
    /// The provider's reference of the captured payment.
    pub payment_ref: Option<String>,
    /// Payment attempts started (each claims the order `paying`).
    pub payment_attempts: i64,
}

impl Order {
    /// The provider reference of payment attempt `attempt` (1 for the first): providers replay a
    /// repeated reference's first answer, so every attempt has its own.
    pub fn payment_reference(&self, attempt: i64) -> String {
        format!("{}.{attempt}", self.id)
    }
}

/// An order ready to be placed: lines priced from current prices, one currency.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub buyer: AccountId,
    pub idempotency_key: String,
    pub request_hash: String,
    pub lines: Vec<Line>,
    pub currency: Currency,
    pub video: Option<VideoId>,
    pub tag: Option<TagId>,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("not enough stock of {title:?} for {quantity}")]
    OutOfStock { title: String, quantity: i64 },
    /// The buyer already used this key: the order placed then.
    #[error("this Idempotency-Key was already used")]
    KeyUsed(Box<Order>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Places the order, reserving its stock, or changes nothing.
/// How many orders `buyer` placed since `since_ms`, and when the oldest of them was placed.
pub async fn placed_since(
    db: &Db,
    buyer: &AccountId,
    since_ms: i64,
) -> sqlx::Result<(i64, Option<i64>)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM orders \
         WHERE buyer_id = $1 AND created_at >= $2",
    )
    .bind(buyer.as_str())
    .bind(since_ms)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

pub async fn place(db: &Db, new: NewOrder) -> Result<Order, PlaceError> {
    let id = OrderId::generate();
    let total: i64 = new
        .lines
        .iter()
        .map(|l| l.unit_price_minor * l.quantity)
        .sum();
    let now = now_ms();
    let mut tx = db.begin().await?;
    // Writes first: on SQLite the transaction takes the write lock here, waiting its turn,
    // instead of reading first and failing to upgrade.
    for line in &new.lines {
        let reserved = reserve(&mut tx, line).await?;
        if !reserved {
            return Err(PlaceError::OutOfStock {
                title: line.title.clone(),
                quantity: line.quantity,
            });
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, status, currency, \
         total_minor, video_id, tag_id, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id.as_str())
    .bind(new.buyer.as_str())
    .bind(&new.idempotency_key)
    .bind(&new.request_hash)
    .bind(new.currency.as_str())
    .bind(total)
    .bind(new.video.as_ref().map(|v| v.as_str()))
    .bind(new.tag.as_ref().map(|t| t.as_str()))
    .bind(new.expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(e)) = &inserted {
        if e.is_unique_violation() {
            drop(tx);
            // Placed meanwhile by a concurrent retry with the same key.
            let existing = by_key(db, &new.buyer, &new.idempotency_key)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            return Err(PlaceError::KeyUsed(Box::new(existing)));
        }
    }
    inserted?;
    for (position, line) in new.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_items (order_id, position, product_id, variant_id, merchant_id, \
             title, unit_price_minor, quantity, commission_bps, shop_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $5)",
        )
        .bind(id.as_str())
        .bind(position as i64)
        .bind(line.product.as_str())
        .bind(line.variant.as_ref().map(|v| v.as_str()))
        .bind(line.shop.as_str())
        .bind(&line.title)
        .bind(line.unit_price_minor)
        .bind(line.quantity)
        .bind(line.commission_bps)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // The stock moved: a tag's "in stock" may have changed.
    db.changed(vitrine_core::changes::Topic::Showcase);
    Ok(Order {
        id,
        buyer: new.buyer,
        status: OrderStatus::PendingPayment,
        total: Money {
            amount_minor: total,
            currency: new.currency,
        },
        lines: new.lines,
        video: new.video,
        tag: new.tag,
        expires_at: new.expires_at,
        paid_at: None,
        request_hash: new.request_hash,
        payment_ref: None,
        payment_attempts: 0,
    })
}

/// Takes `line.quantity` from the stock if there is that much (and the product is active).
async fn reserve(tx: &mut vitrine_core::db::Tx, line: &Line) -> sqlx::Result<bool> {
    let done = match &line.variant {
        Some(variant) => {
            sqlx::query(
                "UPDATE product_variants SET stock = stock - $1 \
                 WHERE id = $2 AND product_id = $3 AND stock >= $1 \
                 AND EXISTS (SELECT 1 FROM products p WHERE p.id = $3 AND p.status = 'active')",
            )
            .bind(line.quantity)
            .bind(variant.as_str())
            .bind(line.product.as_str())
            .execute(&mut **tx)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE products SET stock = stock - $1 \
                 WHERE id = $2 AND stock >= $1 AND status = 'active'",
            )
            .bind(line.quantity)
            .bind(line.product.as_str())
            .execute(&mut **tx)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Gives an order's stock back.
async fn release(tx: &mut vitrine_core::db::Tx, order: &Order) -> sqlx::Result<()> {
    for line in &order.lines {
        match &line.variant {
            Some(variant) => {
                sqlx::query("UPDATE product_variants SET stock = stock + $1 WHERE id = $2")
                    .bind(line.quantity)
                    .bind(variant.as_str())
                    .execute(&mut **tx)
                    .await?
            }
            None => {
                sqlx::query("UPDATE products SET stock = stock + $1 WHERE id = $2")
                    .bind(line.quantity)
                    .bind(line.product.as_str())
                    .execute(&mut **tx)
                    .await?
            }
        };
    }
    Ok(())
}

/// Claims an order waiting for payment for one payment attempt (`pending_payment → paying`,
/// counting the attempt): a second pay, a cancel or the expiry sweep cannot act on it while the
/// card is charged. False if it was not waiting for payment any more.
pub async fn claim_for_payment(db: &Db, order: &Order) -> sqlx::Result<bool> {
    let from = [OrderStatus::PendingPayment];
    transition(db, order, &from, OrderStatus::Paying, Stock::Keep, None).await
}

/// Gives a claimed order back to waiting for payment (`paying → pending_payment`): the attempt
/// charged nothing.
pub async fn release_payment_claim(db: &Db, order: &Order) -> sqlx::Result<bool> {
    let from = [OrderStatus::Paying];
    transition(
        db,
        order,
        &from,
        OrderStatus::PendingPayment,
        Stock::Keep,
        None,
    )
    .await
}

/// Records the captured payment `payment_ref` of a claimed order (`paying → paid`). False if
/// something else (the reconciling sweep) moved it on first.
pub async fn mark_paid(db: &Db, order: &Order, payment_ref: &str) -> sqlx::Result<bool> {
    let from = [OrderStatus::Paying];
    transition(
        db,
        order,
        &from,
        OrderStatus::Paid,
        Stock::Keep,
        Some(payment_ref),
    )
    .await
}

/// Cancels an unpaid order and releases its stock (`pending_payment → cancelled`): the buyer's
/// cancel, and the expiry sweep.
pub async fn cancel_unpaid(db: &Db, order: &Order) -> sqlx::Result<bool> {
    let from = [OrderStatus::PendingPayment];
    transition(
        db,
        order,
        &from,
        OrderStatus::Cancelled,
        Stock::Release,
        None,
    )
    .await
}

/// Marks a paid order shipped (`paid → fulfilled`).
pub async fn fulfil(db: &Db, order: &Order) -> sqlx::Result<bool> {
    let from = [OrderStatus::Paid];
    transition(db, order, &from, OrderStatus::Fulfilled, Stock::Keep, None).await
}

/// Marks a refunded order (`paid → refunded` returns its stock; `fulfilled → refunded` does not:
/// the goods were shipped). Each move is conditional on the state it restocks for, so a refund
/// racing a fulfilment never returns shipped goods to stock. False if it was neither.
pub async fn mark_refunded(db: &Db, order: &Order) -> sqlx::Result<bool> {
    let refunded = transition(
        db,
        order,
        &[OrderStatus::Paid],
        OrderStatus::Refunded,
        Stock::Release,
        None,
    )
    .await?;
    Ok(refunded
        || transition(
            db,
            order,
            &[OrderStatus::Fulfilled],
            OrderStatus::Refunded,
            Stock::Keep,
            None,
        )
        .await?)
}

/// What a move does with the order's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stock {
    Keep,
    /// Back to the products' stock.
    Release,
}

/// Moves an order `from → to`; false if it was not in `from` any more.
async fn transition(
    db: &Db,
    order: &Order,
    from: &[OrderStatus],
    to: OrderStatus,
    stock: Stock,
    payment_ref: Option<&str>,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let allowed: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let now = now_ms();
    let done = sqlx::query(&format!(
        "UPDATE orders SET status = $1, updated_at = $2, \
         paid_at = CASE WHEN $1 = 'paid' THEN $2 ELSE paid_at END, \
         payment_ref = COALESCE($3, payment_ref), \
         payment_attempts = payment_attempts + CASE WHEN $1 = 'paying' THEN 1 ELSE 0 END \
         WHERE id = $4 AND status IN ({})",
        allowed.join(", ")
    ))
    .bind(to.as_str())
    .bind(now)
    .bind(payment_ref)
    .bind(order.id.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if stock == Stock::Release {
        release(&mut tx, order).await?;
    }
    tx.commit().await?;
    if stock == Stock::Release {
        db.changed(vitrine_core::changes::Topic::Showcase);
    }
    Ok(true)
}

/// A shop's orders, newest first: all, or those in `status`; after `after` (the previous page's
/// last), at most `limit`.
pub async fn for_shop(
    db: &Db,
    shop: &ShopId,
    status: Option<OrderStatus>,
    after: Option<&OrderId>,
    limit: i64,
) -> sqlx::Result<Vec<Order>> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM order_items i \
         WHERE i.order_id = o.id AND i.shop_id = $1) AND ($2 IS NULL OR o.status = $2) \
         AND ($3 IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT {}",
        limit.clamp(1, 101)
    ))
    .bind(shop.as_str())
    .bind(status.map(OrderStatus::as_str))
    .bind(after.map(OrderId::as_str))
    .fetch_all(db.pool())
    .await?;
    let mut orders = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(order) = get(db, &OrderId::from_db(id)).await? {
            orders.push(order);
        }
    }
    Ok(orders)
}

pub async fn get(db: &Db, id: &OrderId) -> sqlx::Result<Option<Order>> {
    let order: Option<Order> = sqlx::query_as(
        "SELECT id, buyer_id, status, currency, total_minor, video_id, tag_id, expires_at, \
         paid_at, request_hash, payment_ref, payment_attempts FROM orders WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(mut order) = order else {
        return Ok(None);
    };
    order.lines = sqlx::query_as(
        "SELECT product_id, variant_id, shop_id, title, unit_price_minor, quantity, \
         commission_bps FROM order_items WHERE order_id = $1 ORDER BY position",
    )
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?;
    Ok(Some(order))
}

impl FromRow<'_, AnyRow> for Line {
    fn from_row(row: &AnyRow) -> sqlx::Result<Line> {
        Ok(Line {
            product: row.try_get("product_id")?,
            variant: row.try_get("variant_id")?,
            shop: row.try_get("shop_id")?,
            title: row.try_get("title")?,
            unit_price_minor: row.try_get("unit_price_minor")?,
            quantity: row.try_get("quantity")?,
            commission_bps: row.try_get("commission_bps")?,
        })
    }
}

/// An order's own row; its lines are read apart (`get`).
impl FromRow<'_, AnyRow> for Order {
    fn from_row(row: &AnyRow) -> sqlx::Result<Order> {
        Ok(Order {
            id: row.try_get("id")?,
            buyer: row.try_get("buyer_id")?,
            status: row.try_get("status")?,
            total: Money {
                amount_minor: row.try_get("total_minor")?,
                currency: row.try_get("currency")?,
            },
            lines: Vec::new(),
            video: row.try_get("video_id")?,
            tag: row.try_get("tag_id")?,
            expires_at: row.try_get("expires_at")?,
            paid_at: row.try_get("paid_at")?,
            request_hash: row.try_get("request_hash")?,
            payment_ref: row.try_get("payment_ref")?,
            payment_attempts: row.try_get("payment_attempts")?,
        })
    }
}

pub async fn by_key(db: &Db, buyer: &AccountId, key: &str) -> sqlx::Result<Option<Order>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM orders WHERE buyer_id = $1 AND idempotency_key = $2")
            .bind(buyer.as_str())
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    match id {
        Some(id) => get(db, &OrderId::from_db(id)).await,
        None => Ok(None),
    }
}

/// Cancels unpaid orders past their expiry, releasing their stock. Returns how many. (Orders
/// left `paying` are reconciled with the payment provider: `crate::sweep`.)
pub async fn expire(db: &Db) -> sqlx::Result<usize> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND expires_at < $1 LIMIT 100",
    )
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    let mut expired = 0;
    for id in ids {
        if let Some(order) = get(db, &OrderId::from_db(id)).await? {
            if cancel_unpaid(db, &order).await? {
                expired += 1;
            }
        }
    }
    Ok(expired)
}

/// Orders `paying` since before `before` (their payment request died or lost its answer).
pub async fn stuck_paying(db: &Db, before: i64) -> sqlx::Result<Vec<Order>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'paying' AND updated_at < $1 LIMIT 100",
    )
    .bind(before)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for id in ids {
        out.extend(get(db, &OrderId::from_db(id)).await?);
    }
    Ok(out)
}
