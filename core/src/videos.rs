//! The `videos` table: one row per uploaded clip, written by ingest, advanced by the transcode
//! worker, read by the feed.
//!
//! Status only moves forward: `uploading → queued → processing → playable → ready | failed` (a
//! job handed back to the queue returns `processing | playable → queued`). `outputs` lists the
//! object keys of what a viewer can fetch and is written in the same statement that makes the
//! video `playable` (the lowest rung, still growing) or `ready` (everything), after every object
//! it lists exists.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, FromRow, Row};
use utoipa::ToSchema;

use crate::{
    changes::Topic,
    db::{
        column::{decode_error, UnknownName},
        Db, Tx,
    },
    ids::{AccountId, VideoId},
    time::now_ms,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    Uploading,
    Queued,
    Processing,
    /// The lowest rung plays (a growing HLS playlist); the rest of the ladder is on its way.
    Playable,
    Ready,
    Failed,
}

impl VideoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VideoStatus::Uploading => "uploading",
            VideoStatus::Queued => "queued",
            VideoStatus::Processing => "processing",
            VideoStatus::Playable => "playable",
            VideoStatus::Ready => "ready",
            VideoStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VideoStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "uploading" => VideoStatus::Uploading,
            "queued" => VideoStatus::Queued,
            "processing" => VideoStatus::Processing,
            "playable" => VideoStatus::Playable,
            "ready" => VideoStatus::Ready,
            "failed" => VideoStatus::Failed,
            other => return Err(UnknownName::new("video status", other)),
        })
    }
}

crate::text_column!(VideoStatus, VideoStatus::from_str);

/// Object keys of everything a transcode produced (stored as JSON in `videos.outputs`).
/// A point on the frame, normalized: `x` and `y` in 0..1 from the top left (where a product
/// tag's card is pinned).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoOutputs {
    pub master_playlist: String,
    /// JPEG poster (`None` while only playable).
    #[serde(default)]
    pub poster: Option<String>,
    /// The poster at several widths, JPEG and WebP, largest first.
    #[serde(default)]
    pub posters: Vec<PosterOutput>,
    /// Short animated WebP preview.
    #[serde(default)]
    pub preview: Option<String>,
    /// WebVTT thumbnails track for scrubbing (its cues point into a sprite sheet beside it).
    #[serde(default)]
    pub storyboard: Option<String>,
    pub renditions: Vec<RenditionOutput>,
    /// Every key written under the video's prefix, for deletion and for checks.
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosterOutput {
    pub width: u32,
    pub height: u32,
    pub jpeg: String,
    pub webp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionOutput {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u32,
    pub playlist: String,
    /// Progressive MP4 (`None` while only playable).
    #[serde(default)]
    pub mp4: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Video {
    pub id: VideoId,
    pub creator_id: AccountId,
    pub title: String,
    pub status: VideoStatus,
    pub progress: f64,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub source_size: i64,
    pub source_sha256: String,
    pub outputs: Option<VideoOutputs>,
    pub created_at: i64,
    pub ready_at: Option<i64>,
}

pub struct NewVideo<'a> {
    pub id: &'a VideoId,
    pub creator_id: &'a AccountId,
    pub title: &'a str,
    pub status: VideoStatus,
    pub duration_ms: Option<i64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub source_size: i64,
    pub source_sha256: &'a str,
}

const COLUMNS: &str =
    "id, creator_id, title, status, progress, error, duration_ms, width, height, \
                       source_size, source_sha256, outputs, created_at, ready_at";

impl FromRow<'_, AnyRow> for Video {
    fn from_row(row: &AnyRow) -> sqlx::Result<Video> {
        let outputs: Option<&str> = row.try_get("outputs")?;
        Ok(Video {
            id: row.try_get("id")?,
            creator_id: row.try_get("creator_id")?,
            title: row.try_get("title")?,
            status: row.try_get("status")?,
            progress: row.try_get("progress")?,
            error: row.try_get("error")?,
            duration_ms: row.try_get("duration_ms")?,
            width: row.try_get::<Option<i64>, _>("width")?.map(|w| w as u32),
            height: row.try_get::<Option<i64>, _>("height")?.map(|h| h as u32),
            source_size: row.try_get("source_size")?,
            source_sha256: row.try_get("source_sha256")?,
            outputs: outputs
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| decode_error("outputs", e))?,
            created_at: row.try_get("created_at")?,
            ready_at: row.try_get("ready_at")?,
        })
    }
}

pub async fn insert(tx: &mut Tx, v: NewVideo<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO videos (id, creator_id, title, status, progress, duration_ms, width, height, \
         source_size, source_sha256, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(v.id.as_str())
    .bind(v.creator_id.as_str())
    .bind(v.title)
    .bind(v.status.as_str())
    .bind(v.duration_ms)
    .bind(v.width.map(i64::from))
    .bind(v.height.map(i64::from))
    .bind(v.source_size)
    .bind(v.source_sha256)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &VideoId) -> sqlx::Result<Option<Video>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await
}

/// The videos among `ids` that exist, in no particular order.
pub async fn get_many(db: &Db, ids: &[&VideoId]) -> sqlx::Result<Vec<Video>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM videos WHERE id IN ({})",
            crate::db::placeholder_list(chunk.len(), 1)
        );
        let mut q = sqlx::query_as(&sql);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        out.extend(q.fetch_all(db.pool()).await?);
    }
    Ok(out)
}

/// A creator's videos, newest first (ids sort by creation time), strictly before `before`.
pub async fn list_by_creator(
    db: &Db,
    creator: &AccountId,
    before: Option<&VideoId>,
    limit: i64,
) -> sqlx::Result<Vec<Video>> {
    // Two statements rather than a sentinel id: how `~` sorts against digits depends on the
    // database's collation.
    match before {
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM videos WHERE creator_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(creator.as_str())
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
        Some(before) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM videos WHERE creator_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(creator.as_str())
            .bind(before.as_str())
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
    }
}

/// Ready videos, newest first, strictly after the `(ready_at, id)` cursor.
pub async fn list_ready(
    db: &Db,
    after: Option<(i64, &VideoId)>,
    limit: i64,
) -> sqlx::Result<Vec<Video>> {
    match after {
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM videos WHERE status = 'ready' \
                 ORDER BY ready_at DESC, id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
        Some((ready_at, id)) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM videos WHERE status = 'ready' \
                 AND (ready_at < $1 OR (ready_at = $1 AND id < $2)) \
                 ORDER BY ready_at DESC, id DESC LIMIT $3"
            ))
            .bind(ready_at)
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
    }
}

/// A worker starts on the video: `processing`, progress 0, nothing listed. Only from `queued`,
/// `processing` (a retry) or `playable` (the worker that published the lowest rung died: its
/// playlist would never end, so the new attempt publishes its own), never from a terminal
/// state.
pub async fn mark_processing(db: &Db, id: &VideoId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET status = 'processing', progress = 0, outputs = NULL, updated_at = $1 \
         WHERE id = $2 AND status IN ('queued', 'processing', 'playable')",
    )
    .bind(now_ms())
    .bind(id.as_str())
    .execute(db.pool())
    .await?;
    db.changed(Topic::Showcase);
    Ok(())
}

pub async fn set_progress(db: &Db, id: &VideoId, progress: f64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET progress = $1, updated_at = $2 \
         WHERE id = $3 AND status IN ('processing', 'playable')",
    )
    .bind(progress.clamp(0.0, 1.0))
    .bind(now_ms())
    .bind(id.as_str())
    .execute(db.pool())
    .await?;
    db.changed(Topic::Showcase);
    Ok(())
}

/// The lowest rung plays: `playable`, listing what already exists. Only from `processing`;
/// returns false if the video is no longer processing (deleted, requeued, finished).
pub async fn mark_playable(db: &Db, id: &VideoId, outputs: &VideoOutputs) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE videos SET status = 'playable', outputs = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'processing'",
    )
    .bind(serde_json::to_string(outputs)?)
    .bind(now_ms())
    .bind(id.as_str())
    .execute(db.pool())
    .await?;
    db.changed(Topic::Showcase);
    Ok(done.rows_affected() > 0)
}

pub async fn mark_ready(
    tx: &mut Tx,
    id: &VideoId,
    outputs: &VideoOutputs,
    duration_ms: i64,
) -> anyhow::Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE videos SET status = 'ready', progress = 1, error = NULL, outputs = $1, \
         duration_ms = $2, ready_at = $3, updated_at = $3 WHERE id = $4",
    )
    .bind(serde_json::to_string(outputs)?)
    .bind(duration_ms)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Back to `queued` when its job returns to the queue (retry or hand-back); only from
/// `processing` or `playable`, so a late caller can never demote a video that another worker
/// finished. A playable video's outputs go: the next attempt writes under its own prefix.
pub async fn return_to_queue(tx: &mut Tx, id: &VideoId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET status = 'queued', outputs = NULL, updated_at = $1 \
         WHERE id = $2 AND status IN ('processing', 'playable')",
    )
    .bind(now_ms())
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a finished upload turned out to be, written when it is admitted.
pub struct Source<'a> {
    pub duration_ms: i64,
    pub width: u32,
    pub height: u32,
    pub size: i64,
    pub sha256: &'a str,
}

/// A resumable upload finished and was probed: `uploading → queued` with what the probe found.
/// Returns false if the video is no longer uploading (deleted, or admitted by another request).
pub async fn admit(tx: &mut Tx, id: &VideoId, source: Source<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE videos SET status = 'queued', duration_ms = $1, width = $2, height = $3, \
         source_size = $4, source_sha256 = $5, updated_at = $6 \
         WHERE id = $7 AND status = 'uploading'",
    )
    .bind(source.duration_ms)
    .bind(i64::from(source.width))
    .bind(i64::from(source.height))
    .bind(source.size)
    .bind(source.sha256)
    .bind(now_ms())
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The creator's earlier video made from exactly these bytes, unless it failed.
pub async fn find_by_source(
    db: &Db,
    creator: &AccountId,
    sha256: &str,
) -> Result<Option<VideoId>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id FROM videos WHERE creator_id = $1 AND source_sha256 = $2 \
         AND status NOT IN ('uploading', 'failed') ORDER BY created_at LIMIT 1",
    )
    .bind(creator.as_str())
    .bind(sha256)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| row.try_get::<String, _>("id").map(VideoId::from_db))
        .transpose()
}

pub async fn mark_failed(tx: &mut Tx, id: &VideoId, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE videos SET status = 'failed', error = $1, updated_at = $2 WHERE id = $3")
        .bind(reason)
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes a video's row (its job, tags and counts go with it: a worker transcoding it loses
/// its lease) and leaves a tombstone so its objects are removed in the background
/// (`vitrine_ingest::gc`). Whether it existed.
pub async fn delete(db: &Db, id: &VideoId) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO deleted_videos (id, deleted_at, creator_id, created_at, duration_ms) \
         SELECT id, $2, creator_id, created_at, duration_ms FROM videos WHERE id = $1 \
         ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(done.rows_affected() > 0)
}

/// Deleted videos whose objects are still to be removed: deleted before `before`, oldest first.
pub async fn deleted_before(db: &Db, before: i64, limit: i64) -> sqlx::Result<Vec<VideoId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM deleted_videos WHERE collected_at IS NULL AND deleted_at < $1 \
         ORDER BY deleted_at LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(ids.into_iter().map(VideoId::from_db).collect())
}

/// A deleted video's objects are gone. Its tombstone stays two days (it still counts towards
/// its creator's uploads of the day), then goes.
pub async fn forget_deleted(db: &Db, id: &VideoId) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query("UPDATE deleted_videos SET collected_at = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query("DELETE FROM deleted_videos WHERE collected_at IS NOT NULL AND deleted_at < $1")
        .bind(now - 2 * 24 * 3600 * 1000)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Of `ids`, those that name a video (any status).
pub async fn existing(db: &Db, ids: &[String]) -> sqlx::Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id FROM videos WHERE id IN ({})",
            crate::db::placeholder_list(chunk.len(), 1)
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        found.extend(query.fetch_all(db.pool()).await?);
    }
    Ok(found)
}
