//! What drives sales: the shop's record of tag impressions and product clicks (fed by the feed's
//! events through the functions here, never by the feed writing shop tables), the attribution of
//! each paid order line to the last click on that product within 14 days (TikTok Shop's
//! "direct" GMV), the creator's commission, and the analytics merchants and creators read.
//!
//! Money stays integer: a commission is `price × quantity × bps / 10000` rounded half-even in
//! minor units.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use vitrine_core::{
    db::{placeholder_rows, Db, Tx},
    ids::{AccountId, ProductId, ShopId, TagId, VideoId},
    money::{saturating_minor, sum_wide, Currency, Money},
    time::now_ms,
};

use crate::{codes, orders::Order, tags::TagStatus};

/// How long a product click can be credited with a purchase.
pub const WINDOW_MS: i64 = 14 * 24 * 3600 * 1000;

/// `value × bps / 10000`, rounded half to even.
pub fn commission(value_minor: i64, bps: i64) -> i64 {
    let product = i128::from(value_minor) * i128::from(bps);
    let (quotient, remainder) = (product / 10_000, product % 10_000);
    let rounded = match (remainder * 2).cmp(&10_000) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient % 2),
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Videos shown to a viewer (feed impressions, in the feed's transaction): one tag impression
/// for each tag viewers see on each video. `shown` is `(event id, video, at)`; `visible` is
/// what `tags::visible_tags_of` returned for (at least) those videos just before.
pub async fn record_impressions(
    tx: &mut Tx,
    viewer: &AccountId,
    shown: &[(&str, &str, i64)],
    visible: &HashMap<String, Vec<(String, String)>>,
) -> sqlx::Result<()> {
    if shown.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(&str, &str, &str, &str, i64)> = Vec::new();
    for (event, video, at) in shown {
        for (tag, product) in visible.get(*video).into_iter().flatten() {
            rows.push((event, tag, video, product, *at));
        }
    }
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO tag_impressions (event_id, tag_id, video_id, product_id, viewer_id, at) \
             VALUES {} ON CONFLICT DO NOTHING",
            placeholder_rows(chunk.len(), 6, 1)
        );
        let mut q = sqlx::query(&sql);
        for (event, tag, video, product, at) in chunk {
            q = q
                .bind(*event)
                .bind(*tag)
                .bind(*video)
                .bind(*product)
                .bind(viewer.as_str())
                .bind(*at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Why a product click cannot be recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClickError {
    #[error("tag_id does not name a tag of this video")]
    UnknownTag,
    /// Pending, rejected or invalid: viewers never saw its card, and it credits no one.
    #[error("the tag is not live: only a live tag's card can be tapped")]
    NotLive,
}

impl ClickError {
    pub fn code(&self) -> &'static str {
        match self {
            ClickError::UnknownTag => codes::UNKNOWN_TAG,
            ClickError::NotLive => codes::TAG_NOT_LIVE,
        }
    }
}

/// The product a live tag of `video` sells, and the video's creator: what a click on it
/// credits.
pub async fn clicked(
    db: &Db,
    video: &VideoId,
    tag: &TagId,
) -> Result<Result<Click, ClickError>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT t.product_id, t.status, v.creator_id FROM tags t \
         JOIN videos v ON v.id = t.video_id WHERE t.id = $1 AND t.video_id = $2",
    )
    .bind(tag.as_str())
    .bind(video.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        None => Err(ClickError::UnknownTag),
        Some(row) if row.try_get::<TagStatus, _>("status")? != TagStatus::Live => {
            Err(ClickError::NotLive)
        }
        Some(row) => Ok(Click {
            video: video.clone(),
            tag: tag.clone(),
            product: row.try_get("product_id")?,
            creator: row.try_get("creator_id")?,
        }),
    })
}

/// A tap on a product card, resolved by [`clicked`].
#[derive(Debug, Clone)]
pub struct Click {
    pub video: VideoId,
    pub tag: TagId,
    pub product: ProductId,
    pub creator: AccountId,
}

/// A viewer tapped a tag's product card: starts (or renews) the attribution window.
pub async fn record_click(
    tx: &mut Tx,
    event_id: &str,
    viewer: &AccountId,
    click: &Click,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO product_clicks (event_id, viewer_id, video_id, tag_id, product_id, \
         creator_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(viewer.as_str())
    .bind(click.video.as_str())
    .bind(click.tag.as_str())
    .bind(click.product.as_str())
    .bind(click.creator.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Units sold and GMV (minor units) credited to each video by paid orders, per currency: the
/// purchases the feed's ranker learns from. `(video, currency, units, gmv)`.
pub async fn sales_by_video(db: &Db) -> sqlx::Result<Vec<(String, String, i64, i64)>> {
    let rows = sqlx::query(&format!(
        "SELECT a.video_id, a.currency, CAST(SUM(a.units) AS BIGINT) AS units, {} AS gmv \
         FROM order_attributions a JOIN orders o ON o.id = a.order_id \
         WHERE o.status IN ('paid', 'fulfilled') GROUP BY a.video_id, a.currency",
        sum_wide("a.gmv_minor")
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("video_id")?,
                r.try_get("currency")?,
                r.try_get("units")?,
                saturating_minor(r.try_get("gmv")?),
            ))
        })
        .collect()
}

/// Moves an anonymous viewer's product clicks to the account they signed in to, so a purchase
/// made after signing in is still credited to the clip whose card they tapped.
pub async fn merge_viewer(db: &Db, from: &AccountId, into: &AccountId) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO product_clicks (event_id, viewer_id, video_id, tag_id, product_id, \
         creator_id, at) SELECT event_id, $1, video_id, tag_id, product_id, creator_id, at \
         FROM product_clicks WHERE viewer_id = $2 ON CONFLICT DO NOTHING",
    )
    .bind(into.as_str())
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM product_clicks WHERE viewer_id = $1")
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Credits each line of a just-paid order to the buyer's last click on its product within the
/// window before `paid_at`, with the creator's commission. Lines without such a click, and
/// lines the clip's own creator bought, are not attributed (no commission).
pub async fn attribute(db: &Db, order: &Order, paid_at: i64) -> sqlx::Result<()> {
    for (position, line) in order.lines.iter().enumerate() {
        let click = sqlx::query(
            "SELECT video_id, tag_id, creator_id FROM product_clicks \
             WHERE viewer_id = $1 AND product_id = $2 AND at <= $3 AND at >= $4 \
             ORDER BY at DESC, event_id DESC LIMIT 1",
        )
        .bind(order.buyer.as_str())
        .bind(line.product.as_str())
        .bind(paid_at)
        .bind(paid_at - WINDOW_MS)
        .fetch_optional(db.pool())
        .await?;
        let Some(click) = click else { continue };
        let creator: String = click.try_get("creator_id")?;
        // A creator buying through their own clip drives no sale: no commission, and no GMV
        // for the ranker to reward.
        if creator == order.buyer.as_str() {
            continue;
        }
        let gmv = line.unit_price_minor * line.quantity;
        // A seller promoting their own shop's product on their own clip earns no commission.
        let own =
            vitrine_identity::shops::role_in(db, &line.shop, &AccountId::from_db(creator.clone()))
                .await?
                .is_some();
        let commission_minor = if own {
            0
        } else {
            commission(gmv, line.commission_bps)
        };
        sqlx::query(
            "INSERT INTO order_attributions (order_id, position, product_id, video_id, tag_id, \
             creator_id, units, gmv_minor, commission_minor, currency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(order.id.as_str())
        .bind(position as i64)
        .bind(line.product.as_str())
        .bind(click.try_get::<String, _>("video_id")?)
        .bind(click.try_get::<String, _>("tag_id")?)
        .bind(&creator)
        .bind(line.quantity)
        .bind(gmv)
        .bind(commission_minor)
        .bind(order.total.currency.as_str())
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// One product in one video: what it was shown, clicked and sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductVideoStats {
    pub product_id: String,
    pub video_id: String,
    /// Feed impressions of the video while the tag was live and visible.
    pub tag_impressions: i64,
    /// Taps on the product card; one viewer's repeated taps on one tag count once per half
    /// hour.
    pub clicks: i64,
    /// Paid (or fulfilled) orders attributed to the clip.
    pub orders: i64,
    pub units: i64,
    pub gmv: Money,
    pub commission: Money,
    /// clicks / tag impressions.
    pub ctr: f64,
    /// orders / clicks.
    pub cvr: f64,
    /// GMV per 1000 tag impressions, in minor units (rounded half-even).
    pub gpm: Money,
}

/// Whose figures: a shop's products, or the videos of a creator.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Shop(&'a ShopId),
    Creator(&'a AccountId),
}

/// The figures per product × video, computed from the impression, click and attribution logs.
pub async fn stats(db: &Db, scope: Scope<'_>) -> sqlx::Result<Vec<ProductVideoStats>> {
    let (filter, who) = match scope {
        Scope::Shop(s) => ("p.shop_id = $1", s.as_str()),
        Scope::Creator(c) => ("v.creator_id = $1", c.as_str()),
    };
    // Every (product, video) pair that has a tag, with the product's currency.
    let pairs = sqlx::query(&format!(
        "SELECT DISTINCT t.product_id, t.video_id, p.currency FROM tags t \
         JOIN products p ON p.id = t.product_id JOIN videos v ON v.id = t.video_id \
         WHERE {filter}"
    ))
    .bind(who)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for pair in pairs {
        let product: String = pair.try_get("product_id")?;
        let video: String = pair.try_get("video_id")?;
        let currency: Currency = pair.try_get("currency")?;
        let count = |sql: &'static str| {
            let (product, video) = (product.clone(), video.clone());
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .bind(product)
                    .bind(video)
                    .fetch_one(db.pool())
                    .await
            }
        };
        // Raw rows of the retention period, plus the daily roll-ups of older ones.
        let impressions = count(
            "SELECT (SELECT COUNT(*) FROM tag_impressions WHERE product_id = $1 AND video_id = $2) \
             + (SELECT CAST(COALESCE(SUM(impressions), 0) AS BIGINT) FROM attribution_daily \
                WHERE product_id = $1 AND video_id = $2)",
        )
        .await?;
        // A viewer tapping one card again and again counts once per half hour.
        let clicks = count(
            "SELECT (SELECT COUNT(DISTINCT viewer_id || '/' || tag_id || '/' || \
                     CAST(at / 1800000 AS TEXT)) \
                     FROM product_clicks WHERE product_id = $1 AND video_id = $2) \
             + (SELECT CAST(COALESCE(SUM(clicks), 0) AS BIGINT) FROM attribution_daily \
                WHERE product_id = $1 AND video_id = $2)",
        )
        .await?;
        let sold = sqlx::query(&format!(
            "SELECT COUNT(DISTINCT a.order_id) AS orders, \
                    CAST(COALESCE(SUM(a.units), 0) AS BIGINT) AS units, \
                    {} AS gmv, {} AS commission \
             FROM order_attributions a JOIN orders o ON o.id = a.order_id \
             WHERE a.product_id = $1 AND a.video_id = $2 AND o.status IN ('paid', 'fulfilled')",
            sum_wide("a.gmv_minor"),
            sum_wide("a.commission_minor")
        ))
        .bind(&product)
        .bind(&video)
        .fetch_one(db.pool())
        .await?;
        let orders: i64 = sold.try_get("orders")?;
        let gmv = saturating_minor(sold.try_get("gmv")?);
        let ratio = |a: i64, b: i64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let money = |amount_minor| Money {
            amount_minor,
            currency: currency.clone(),
        };
        out.push(ProductVideoStats {
            tag_impressions: impressions,
            clicks,
            orders,
            units: sold.try_get("units")?,
            gmv: money(gmv),
            commission: money(saturating_minor(sold.try_get("commission")?)),
            ctr: ratio(clicks, impressions),
            cvr: ratio(orders, clicks),
            gpm: money(if impressions == 0 {
                0
            } else {
                per_thousand(gmv, impressions)
            }),
            product_id: product,
            video_id: video,
        });
    }
    out.sort_by(|a, b| (&a.product_id, &a.video_id).cmp(&(&b.product_id, &b.video_id)));
    Ok(out)
}

/// `gmv × 1000 / impressions`, rounded half to even.
fn per_thousand(gmv: i64, impressions: i64) -> i64 {
    let n = i128::from(gmv) * 1000;
    let d = i128::from(impressions);
    let (q, r) = (n / d, n % d);
    let rounded = match (r * 2).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q % 2),
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// The advisory lock `roll_up` holds (PostgreSQL).
const ROLL_UP_LOCK: i64 = 0x7669_7472_726f_6c6c;

/// Rolls the impressions and clicks of whole days before `before` (rounded down to a day) up
/// into `attribution_daily` and deletes their raw rows, in one transaction: the analytics'
/// totals do not change. Clicks younger than the attribution window are always kept. Returns
/// how many raw rows went.
pub async fn roll_up(db: &Db, before: i64) -> sqlx::Result<u64> {
    let cutoff = (before.min(now_ms() - WINDOW_MS - DAY_MS)).div_euclid(DAY_MS) * DAY_MS;
    let mut tx = db.begin().await?;
    // Every API process rolls up: one at a time, or two would add the same rows twice.
    db.lock_exclusive(&mut tx, ROLL_UP_LOCK).await?;
    sqlx::query(
        "INSERT INTO attribution_daily (product_id, video_id, day, impressions, clicks) \
         SELECT product_id, video_id, at / 86400000, COUNT(*), 0 FROM tag_impressions \
         WHERE at < $1 GROUP BY product_id, video_id, at / 86400000 \
         ON CONFLICT (product_id, video_id, day) \
         DO UPDATE SET impressions = attribution_daily.impressions + excluded.impressions",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO attribution_daily (product_id, video_id, day, impressions, clicks) \
         SELECT product_id, video_id, at / 86400000, 0, \
                COUNT(DISTINCT viewer_id || '/' || tag_id || '/' || CAST(at / 1800000 AS TEXT)) \
         FROM product_clicks WHERE at < $1 GROUP BY product_id, video_id, at / 86400000 \
         ON CONFLICT (product_id, video_id, day) \
         DO UPDATE SET clicks = attribution_daily.clicks + excluded.clicks",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    let impressions = sqlx::query("DELETE FROM tag_impressions WHERE at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    let clicks = sqlx::query("DELETE FROM product_clicks WHERE at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(impressions.rows_affected() + clicks.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_rounds_half_to_even_in_minor_units() {
        assert_eq!(commission(1000, 1500), 150);
        assert_eq!(commission(1299, 1000), 130); // 129.9
        assert_eq!(commission(25, 1000), 2); // 2.5 → 2
        assert_eq!(commission(35, 1000), 4); // 3.5 → 4
        assert_eq!(commission(1, 10_000), 1);
        assert_eq!(commission(0, 5000), 0);
        assert_eq!(commission(i64::MAX / 2, 10_000), i64::MAX / 2);
    }

    #[test]
    fn gpm_rounds_half_to_even() {
        assert_eq!(per_thousand(1299, 3), 433_000);
        assert_eq!(per_thousand(1, 2000), 0); // 0.5 → 0
        assert_eq!(per_thousand(3, 2000), 2); // 1.5 → 2
    }
}
