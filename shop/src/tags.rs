//! Product tags: a product shown in a video over `[start_ms, end_ms]`.

use std::collections::HashMap;

use sqlx::Row;
use vitrine_api::views::TagView;
use vitrine_core::{
    db::Db,
    ids::{AccountId, ProductId, TagId, VideoId},
    money::Money,
    time::now_ms,
};

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

pub async fn create(
    db: &Db,
    video: &VideoId,
    product: &ProductId,
    by: &AccountId,
    range: TimeRange,
) -> sqlx::Result<TagId> {
    let id = TagId::generate();
    sqlx::query(
        "INSERT INTO tags (id, video_id, product_id, created_by, start_ms, end_ms, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_str())
    .bind(video.as_str())
    .bind(product.as_str())
    .bind(by.as_str())
    .bind(range.start_ms)
    .bind(range.end_ms)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// Who may remove a tag: the account that placed it.
pub async fn creator_of(db: &Db, video: &VideoId, tag: &TagId) -> sqlx::Result<Option<AccountId>> {
    let row = sqlx::query("SELECT created_by FROM tags WHERE id = $1 AND video_id = $2")
        .bind(tag.as_str())
        .bind(video.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| AccountId::from_db(r.get("created_by"))))
}

pub async fn delete(db: &Db, tag: &TagId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tags WHERE id = $1")
        .bind(tag.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The tags of each video with their product's live title, price and stock, in time order.
pub async fn for_videos(
    db: &Db,
    videos: &[&VideoId],
) -> sqlx::Result<HashMap<String, Vec<TagView>>> {
    let mut out: HashMap<String, Vec<TagView>> = HashMap::new();
    if videos.is_empty() {
        return Ok(out);
    }
    let placeholders: Vec<String> = (1..=videos.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT t.id, t.video_id, t.product_id, t.start_ms, t.end_ms, \
                p.title, p.price_minor, p.currency, p.stock \
         FROM tags t JOIN products p ON p.id = t.product_id \
         WHERE t.video_id IN ({}) ORDER BY t.start_ms, t.id",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for v in videos {
        query = query.bind(v.as_str());
    }
    for row in query.fetch_all(db.pool()).await? {
        let video_id: String = row.get("video_id");
        out.entry(video_id.clone()).or_default().push(TagView {
            id: row.get("id"),
            video_id,
            product_id: row.get("product_id"),
            start_ms: row.get("start_ms"),
            end_ms: row.get("end_ms"),
            title: row.get("title"),
            price: Money {
                amount_minor: row.get("price_minor"),
                currency: row.get("currency"),
            },
            in_stock: row.get::<i64, _>("stock") > 0,
        });
    }
    Ok(out)
}

pub async fn for_video(db: &Db, video: &VideoId) -> sqlx::Result<Vec<TagView>> {
    Ok(for_videos(db, &[video])
        .await?
        .remove(video.as_str())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_be_ordered_and_inside_the_video() {
        assert_eq!(TimeRange::new(-1, 10), Err(RangeError::Malformed));
        assert_eq!(TimeRange::new(10, 10), Err(RangeError::Malformed));
        let r = TimeRange::new(0, 2000).unwrap();
        assert!(r.check_within(2000).is_ok());
        assert!(r.check_within(1999).is_err());
    }
}
