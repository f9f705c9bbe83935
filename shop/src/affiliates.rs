//! A shop's blocked affiliates: creators who may no longer tag its products into their clips.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use vitrine_core::{
    db::Db,
    ids::{AccountId, ShopId},
    time::now_ms,
};

/// One blocked creator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Blocked {
    pub account_id: String,
    /// Unix milliseconds.
    pub blocked_at: i64,
}

/// Blocks `creator` from tagging `shop`'s products and removes their tags on them. Returns how
/// many tags were removed. Blocking twice is the same as once.
pub async fn block(db: &Db, shop: &ShopId, creator: &AccountId) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO affiliate_blocks (shop_id, account_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(shop.as_str())
    .bind(creator.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let removed = sqlx::query(
        "DELETE FROM tags WHERE created_by = $1 \
         AND product_id IN (SELECT id FROM products WHERE shop_id = $2)",
    )
    .bind(creator.as_str())
    .bind(shop.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.changed(vitrine_core::changes::Topic::Showcase);
    Ok(removed.rows_affected())
}

/// Lets `creator` tag `shop`'s products again. Whether they were blocked.
pub async fn unblock(db: &Db, shop: &ShopId, creator: &AccountId) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM affiliate_blocks WHERE shop_id = $1 AND account_id = $2")
        .bind(shop.as_str())
        .bind(creator.as_str())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn is_blocked(db: &Db, shop: &ShopId, creator: &AccountId) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT created_at FROM affiliate_blocks WHERE shop_id = $1 AND account_id = $2",
    )
    .bind(shop.as_str())
    .bind(creator.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// The shop's blocked creators, most recent first.
pub async fn list(db: &Db, shop: &ShopId) -> sqlx::Result<Vec<Blocked>> {
    let rows = sqlx::query(
        "SELECT account_id, created_at FROM affiliate_blocks WHERE shop_id = $1 \
         ORDER BY created_at DESC, account_id",
    )
    .bind(shop.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Blocked {
                account_id: r.try_get("account_id")?,
                blocked_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
