//! Product tags (anchors): a product shown in a video over `[start_ms, end_ms]`, with the
//! consent of both sides (see [`TagStatus`]).

use std::collections::HashMap;

use sqlx::Row;
use vitrine_core::{
    changes::Topic,
    db::{column::UnknownName, placeholder_list, Db, Tx},
    ids::{AccountId, ProductId, ShopId, TagId, VariantId, VideoId},
    money::Money,
    time::now_ms,
    videos::{Position, Video, VideoStatus},
};

use crate::products::{Product, ProductStatus, StoredSize};

/// A time range inside a video, in milliseconds, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("start_ms must be zero or more and end_ms greater than start_ms")]
    Malformed,
    #[error("the range ends at {end_ms} ms but the video is only {duration_ms} ms long")]
    BeyondVideo { end_ms: i64, duration_ms: i64 },
}

impl TimeRange {
    pub fn new(start_ms: i64, end_ms: i64) -> Result<TimeRange, RangeError> {
        if start_ms < 0 || end_ms <= start_ms {
            return Err(RangeError::Malformed);
        }
        Ok(TimeRange { start_ms, end_ms })
    }

    pub fn check_within(&self, duration_ms: i64) -> Result<(), RangeError> {
        if self.end_ms > duration_ms {
            return Err(RangeError::BeyondVideo {
                end_ms: self.end_ms,
                duration_ms,
            });
        }
        Ok(())
    }
}

/// Where a tag stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    /// A merchant's tag waiting for the video's creator.
    Pending,
    Live,
    Rejected,
    /// The video turned out shorter than the range.
    Invalid,
}

impl TagStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TagStatus::Pending => "pending",
            TagStatus::Live => "live",
            TagStatus::Rejected => "rejected",
            TagStatus::Invalid => "invalid",
        }
    }
}

impl std::str::FromStr for TagStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<TagStatus, UnknownName> {
        match s {
            "pending" => Ok(TagStatus::Pending),
            "live" => Ok(TagStatus::Live),
            "rejected" => Ok(TagStatus::Rejected),
            "invalid" => Ok(TagStatus::Invalid),
            other => Err(UnknownName::new("tag status", other)),
        }
    }
}

vitrine_core::text_column!(TagStatus, str::parse::<TagStatus>);

/// A validated new tag.
#[derive(Debug, Clone)]
pub struct NewTag {
    pub product: ProductId,
    pub variant: Option<VariantId>,
    pub range: TimeRange,
    pub position: Option<Position>,
    pub label: Option<String>,
    pub status: TagStatus,
}

pub async fn create(
    db: &Db,
    video: &VideoId,
    by: &AccountId,
    tag: &NewTag,
    max_live: i64,
) -> Result<TagId, LiveError> {
    let id = TagId::generate();
    let mut tx = db.begin().await?;
    if tag.status == TagStatus::Live {
        check_room(db, &mut tx, video, max_live).await?;
    }
    sqlx::query(
        "INSERT INTO tags (id, video_id, product_id, created_by, start_ms, end_ms, created_at, \
         variant_id, status, pos_x, pos_y, label) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id.as_str())
    .bind(video.as_str())
    .bind(tag.product.as_str())
    .bind(by.as_str())
    .bind(tag.range.start_ms)
    .bind(tag.range.end_ms)
    .bind(now_ms())
    .bind(tag.variant.as_ref().map(|v| v.as_str()))
    .bind(tag.status.as_str())
    .bind(tag.position.map(|p| p.x))
    .bind(tag.position.map(|p| p.y))
    .bind(tag.label.as_deref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(id)
}

/// Why a tag did not go live.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("a video shows at most {0} live tags; remove one first")]
    Full(i64),
    #[error("the tag changed meanwhile; fetch it again")]
    Changed,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Who places a tag on what, as the HTTP edge found out (it knows the caller).
#[derive(Debug)]
pub struct Placement<'a> {
    pub video: &'a Video,
    pub product: &'a Product,
    /// The account placing it.
    pub by: &'a AccountId,
    /// `by` is the video's creator, acting as themselves.
    pub owns_video: bool,
    /// `by` acts for the product's shop.
    pub owns_product: bool,
}

/// Why a tag cannot be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// 422: a creator's tag of another shop's product that pays no commission.
    #[error("this product is not open to affiliates: only its shop can tag it")]
    NotAffiliate,
    /// 403: the shop blocked this creator from its products.
    #[error("this product's shop no longer lets you tag its products")]
    BlockedByShop,
    /// 403: neither the video nor the product is the caller's.
    #[error("tag your own products, or products open to affiliates into your own videos")]
    NeitherYours,
    /// 422: drafts and archived products cannot be tagged.
    #[error("the product is {0}: only active products can be tagged")]
    ProductNotActive(&'static str),
    /// 409: the video failed to process.
    #[error("the video failed to process and cannot be tagged")]
    VideoFailed,
    /// 422: the range does not fit the video.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// 409: the video already shows as many live tags as allowed, or the tag changed.
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The consent rule: a shop's tag on a creator's video waits for the creator (`Pending`); a
/// creator's tag of a product open to affiliates on their own video is live at once, as is a
/// creator's tag of their own shop's product; a tag of neither side's is refused.
pub fn consent(
    owns_video: bool,
    owns_product: bool,
    open_to_affiliates: bool,
) -> Result<TagStatus, PlaceError> {
    match (owns_video, owns_product) {
        (true, true) => Ok(TagStatus::Live),
        (false, true) => Ok(TagStatus::Pending),
        (true, false) if open_to_affiliates => Ok(TagStatus::Live),
        (true, false) => Err(PlaceError::NotAffiliate),
        (false, false) => Err(PlaceError::NeitherYours),
    }
}

/// Places a tag: consent (and the shop's block list for affiliates), an active product, a video
/// that did not fail, a range inside the video (once its duration is known; a video still
/// uploading has its tags checked when it is), and room among the video's live tags.
pub async fn place(
    db: &Db,
    placement: Placement<'_>,
    tag: NewTag,
    max_live: i64,
) -> Result<TagId, PlaceError> {
    let Placement {
        video,
        product,
        by,
        owns_video,
        owns_product,
    } = placement;
    let open_to_affiliates = product.commission_bps > 0;
    let status = consent(owns_video, owns_product, open_to_affiliates)?;
    if owns_video
        && !owns_product
        && crate::affiliates::is_blocked(db, &product.shop_id, by).await?
    {
        return Err(PlaceError::BlockedByShop);
    }
    if product.status != ProductStatus::Active {
        return Err(PlaceError::ProductNotActive(product.status.as_str()));
    }
    if video.status == VideoStatus::Failed {
        return Err(PlaceError::VideoFailed);
    }
    if let Some(duration_ms) = video.duration_ms {
        tag.range.check_within(duration_ms)?;
    }
    Ok(create(db, &video.id, by, &NewTag { status, ..tag }, max_live).await?)
}

/// Inside a write transaction: `Full` if `video` already shows `max_live` live tags. The
/// video's row stays locked until the transaction ends, so two tags going live at once on one
/// video are counted one after the other (SQLite's write transactions already are).
async fn check_room(db: &Db, tx: &mut Tx, video: &VideoId, max_live: i64) -> Result<(), LiveError> {
    sqlx::query(&format!(
        "SELECT id FROM videos WHERE id = $1 {}",
        db.for_update()
    ))
    .bind(video.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let live: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tags WHERE video_id = $1 AND status = 'live'")
            .bind(video.as_str())
            .fetch_one(&mut **tx)
            .await?;
    if live >= max_live {
        return Err(LiveError::Full(max_live));
    }
    Ok(())
}

/// Who placed a tag and where it stands.
pub async fn placed(
    db: &Db,
    video: &VideoId,
    tag: &TagId,
) -> sqlx::Result<Option<(AccountId, TagStatus)>> {
    let row = sqlx::query("SELECT created_by, status FROM tags WHERE id = $1 AND video_id = $2")
        .bind(tag.as_str())
        .bind(video.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get("created_by")?, r.try_get("status")?)))
        .transpose()
}

/// Moves a tag from `from` to `to`; false if it was not in `from` any more.
pub async fn set_status(
    db: &Db,
    video: &VideoId,
    tag: &TagId,
    from: TagStatus,
    to: TagStatus,
    max_live: i64,
) -> Result<(), LiveError> {
    let mut tx = db.begin().await?;
    if to == TagStatus::Live {
        check_room(db, &mut tx, video, max_live).await?;
    }
    let done = sqlx::query("UPDATE tags SET status = $1 WHERE id = $2 AND status = $3")
        .bind(to.as_str())
        .bind(tag.as_str())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(LiveError::Changed);
    }
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(())
}

/// Once a video's duration is known, tags that no longer fit turn `invalid` with the reason.
/// Returns how many.
pub async fn revalidate(db: &Db, video: &VideoId, duration_ms: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE tags SET status = 'invalid', \
         reason = 'the range ends at ' || CAST(end_ms AS TEXT) || ' ms but the video is only ' \
                  || CAST($1 AS TEXT) || ' ms long' \
         WHERE video_id = $2 AND end_ms > $1 AND status IN ('pending', 'live')",
    )
    .bind(duration_ms)
    .bind(video.as_str())
    .execute(db.pool())
    .await?;
    db.changed(Topic::Showcase);
    Ok(done.rows_affected())
}

/// The shop whose product a tag shows (its members may remove the tag).
pub async fn seller_of(db: &Db, video: &VideoId, tag: &TagId) -> sqlx::Result<Option<ShopId>> {
    let shop: Option<String> = sqlx::query_scalar(
        "SELECT p.shop_id FROM tags t JOIN products p ON p.id = t.product_id \
         WHERE t.id = $1 AND t.video_id = $2",
    )
    .bind(tag.as_str())
    .bind(video.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(shop.map(ShopId::from_db))
}

pub async fn delete(db: &Db, tag: &TagId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tags WHERE id = $1")
        .bind(tag.as_str())
        .execute(db.pool())
        .await?;
    db.changed(Topic::Showcase);
    Ok(())
}

/// Which tags a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// What viewers see: live tags on active products in stock.
    Public,
    /// Every tag, whatever its state (for the video's creator and the merchants).
    All,
}

/// In stock (over `tags t`, `products p`, `product_variants v` joined on the tag's variant): the
/// chosen variant's stock, else the product's rule (its own stock, or any variant's).
const IN_STOCK: &str = "(CASE WHEN t.variant_id IS NOT NULL THEN COALESCE(v.stock, 0) > 0 \
                        WHEN EXISTS (SELECT 1 FROM product_variants pv WHERE pv.product_id = p.id) \
                        THEN EXISTS (SELECT 1 FROM product_variants pv \
                                     WHERE pv.product_id = p.id AND pv.stock > 0) \
                        ELSE p.stock > 0 END)";

/// The product's shop sells (over `products p`): its owner is not suspended.
pub const SHOP_SELLING: &str =
    "NOT EXISTS (SELECT 1 FROM shops s JOIN accounts a ON a.id = s.owner_id \
                                WHERE s.id = p.shop_id AND a.suspended_at IS NOT NULL)";

/// What viewers see: live tags inside the video (its final, decoded duration may be shorter
/// than the probe said) on active products in stock, sold by a shop that sells.
fn visible() -> String {
    format!(
        "t.status = 'live' AND p.status = 'active' AND {IN_STOCK} \
         AND (vid.duration_ms IS NULL OR t.end_ms <= vid.duration_ms) AND {SHOP_SELLING}"
    )
}

/// The tags viewers see now on each of `videos`, with their products.
pub async fn visible_tags_of(
    conn: &mut vitrine_core::db::Conn,
    videos: &[&str],
) -> sqlx::Result<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in videos.chunks(500) {
        let sql = format!(
            "SELECT t.id, t.video_id, t.product_id FROM tags t \
             JOIN products p ON p.id = t.product_id JOIN videos vid ON vid.id = t.video_id \
             LEFT JOIN product_variants v ON v.id = t.variant_id \
             WHERE t.video_id IN ({}) AND {}",
            placeholder_list(chunk.len(), 1),
            visible()
        );
        let mut q = sqlx::query(&sql);
        for v in chunk {
            q = q.bind(*v);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.entry(row.try_get("video_id")?)
                .or_default()
                .push((row.try_get("id")?, row.try_get("product_id")?));
        }
    }
    Ok(out)
}

/// Every video that sells something viewers can buy now: `(video, product category, price in
/// minor units, currency)` per visible tag. What the feed's commerce source and commerce term
/// read.
pub async fn visible_commerce(db: &Db) -> sqlx::Result<Vec<(String, Option<String>, i64, String)>> {
    let rows = sqlx::query(&format!(
        "SELECT t.video_id, p.category, COALESCE(v.price_minor, p.price_minor) AS price_minor, \
                p.currency \
         FROM tags t JOIN products p ON p.id = t.product_id \
         JOIN videos vid ON vid.id = t.video_id \
         LEFT JOIN product_variants v ON v.id = t.variant_id WHERE {}",
        visible()
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("video_id")?,
                r.try_get("category")?,
                r.try_get("price_minor")?,
                r.try_get("currency")?,
            ))
        })
        .collect()
}

/// A tag as viewers and its two sides see it: where it is, where it stands, and its product's
/// live title, price, picture and stock.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: TagId,
    pub video_id: VideoId,
    pub product_id: ProductId,
    pub variant_id: Option<VariantId>,
    pub range: TimeRange,
    pub status: TagStatus,
    /// Why the tag is `invalid`.
    pub reason: Option<String>,
    pub position: Option<Position>,
    pub label: Option<String>,
    /// The product's title, live.
    pub title: String,
    /// The product's (or variant's) price, live.
    pub price: Money,
    /// The object key of the product's first picture, smallest size.
    pub image_key: Option<String>,
    pub in_stock: bool,
}

/// The tags of each video with their product's live title, price, picture and stock, in time
/// order.
pub async fn for_videos(
    db: &Db,
    videos: &[&VideoId],
    shown: Shown,
) -> sqlx::Result<HashMap<String, Vec<Tag>>> {
    let mut out: HashMap<String, Vec<Tag>> = HashMap::new();
    if videos.is_empty() {
        return Ok(out);
    }
    let in_stock = IN_STOCK;
    let filter = match shown {
        Shown::Public => format!(" AND {}", visible()),
        Shown::All => String::new(),
    };
    let sql = format!(
        "SELECT t.id, t.video_id, t.product_id, t.variant_id, t.start_ms, t.end_ms, t.status, \
                t.reason, t.pos_x, t.pos_y, t.label, p.title, \
                COALESCE(v.price_minor, p.price_minor) AS price_minor, p.currency, \
                (SELECT i.sizes FROM product_images i WHERE i.product_id = p.id \
                 ORDER BY i.position, i.id LIMIT 1) AS image_sizes, \
                CASE WHEN {in_stock} THEN 1 ELSE 0 END AS in_stock, vid.duration_ms \
         FROM tags t JOIN products p ON p.id = t.product_id \
         JOIN videos vid ON vid.id = t.video_id \
         LEFT JOIN product_variants v ON v.id = t.variant_id \
         WHERE t.video_id IN ({}){filter} ORDER BY t.start_ms, t.id",
        placeholder_list(videos.len(), 1)
    );
    let mut query = sqlx::query(&sql);
    for v in videos {
        query = query.bind(v.as_str());
    }
    for row in query.fetch_all(db.pool()).await? {
        let video_id: String = row.try_get("video_id")?;
        let position = match (
            row.try_get::<Option<f64>, _>("pos_x")?,
            row.try_get::<Option<f64>, _>("pos_y")?,
        ) {
            (Some(x), Some(y)) => Some(Position { x, y }),
            _ => None,
        };
        // The smallest size of the first picture: cards are small.
        let image_key = row
            .try_get::<Option<String>, _>("image_sizes")?
            .and_then(|sizes| serde_json::from_str::<Vec<StoredSize>>(&sizes).ok())
            .and_then(|sizes| sizes.last().map(|s| s.key.clone()));
        // A tag that no longer fits the video (its decoded duration came out shorter than the
        // probe's) is reported invalid, as `revalidate` would have made it.
        let (end_ms, duration): (i64, Option<i64>) =
            (row.try_get("end_ms")?, row.try_get("duration_ms")?);
        let mut status: TagStatus = row.try_get("status")?;
        let mut reason: Option<String> = row.try_get("reason")?;
        if let Some(duration) = duration.filter(|&d| end_ms > d) {
            if matches!(status, TagStatus::Live | TagStatus::Pending) {
                status = TagStatus::Invalid;
                reason = Some(
                    RangeError::BeyondVideo {
                        end_ms,
                        duration_ms: duration,
                    }
                    .to_string(),
                );
            }
        }
        out.entry(video_id.clone()).or_default().push(Tag {
            id: row.try_get("id")?,
            video_id: VideoId::from_db(video_id),
            product_id: row.try_get("product_id")?,
            variant_id: row.try_get("variant_id")?,
            range: TimeRange {
                start_ms: row.try_get("start_ms")?,
                end_ms,
            },
            status,
            reason,
            position,
            label: row.try_get("label")?,
            title: row.try_get("title")?,
            price: Money {
                amount_minor: row.try_get("price_minor")?,
                currency: row.try_get("currency")?,
            },
            image_key,
            in_stock: row.try_get::<i64, _>("in_stock")? == 1,
        });
    }
    Ok(out)
}

pub async fn for_video(db: &Db, video: &VideoId, shown: Shown) -> sqlx::Result<Vec<Tag>> {
    Ok(for_videos(db, &[video], shown)
        .await?
        .remove(video.as_str())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_needs_the_consent_of_the_side_that_did_not_place_it() {
        // (owns the video, owns the product, open to affiliates) → what becomes of the tag.
        let table = [
            ((true, true, false), Some(TagStatus::Live)),
            ((true, true, true), Some(TagStatus::Live)),
            ((false, true, false), Some(TagStatus::Pending)),
            ((false, true, true), Some(TagStatus::Pending)),
            ((true, false, true), Some(TagStatus::Live)),
            ((true, false, false), None),
            ((false, false, true), None),
            ((false, false, false), None),
        ];
        for ((video, product, open), expected) in table {
            let got = consent(video, product, open).ok();
            assert_eq!(
                got, expected,
                "owns video {video}, product {product}, open {open}"
            );
        }
        assert!(matches!(
            consent(true, false, false),
            Err(PlaceError::NotAffiliate)
        ));
        assert!(matches!(
            consent(false, false, true),
            Err(PlaceError::NeitherYours)
        ));
    }

    #[test]
    fn ranges_must_be_ordered_and_inside_the_video() {
        assert_eq!(TimeRange::new(-1, 10), Err(RangeError::Malformed));
        assert_eq!(TimeRange::new(10, 10), Err(RangeError::Malformed));
        let r = TimeRange::new(0, 2000).unwrap();
        assert!(r.check_within(2000).is_ok());
        assert!(r.check_within(1999).is_err());
    }
}
