//! The `uploads`, `direct_uploads` and `video_aliases` tables: the state of resumable uploads.
//!
//! An upload row is the truth about what the client may resume from: `upload_offset` only ever
//! covers bytes the object store holds durably (it is written after them, together with the
//! store's [`Resumable`] state), so after any crash HEAD reports an offset at most what the client
//! sent. Writers take a lease on the row (`lock_owner`, `lock_until`), so two requests never
//! append to one upload at once, on one machine or many.

use std::{fmt, str::FromStr};

use sqlx::{any::AnyRow, FromRow, Row};
use vitrine_assets::Resumable;
use vitrine_core::{
    db::{
        column::{decode_error, UnknownName},
        Db, Tx,
    },
    ids::{AccountId, DirectUploadId, UploadId, VideoId},
    time::now_ms,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Bytes are arriving.
    Receiving,
    /// Every byte is in the object store; the upload is being probed and admitted.
    Stored,
    /// Admitted (the video is queued) or refused (the video says why): nothing left to do.
    Done,
}

impl UploadState {
    fn as_str(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Stored => "stored",
            UploadState::Done => "done",
        }
    }
}

impl FromStr for UploadState {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "receiving" => UploadState::Receiving,
            "stored" => UploadState::Stored,
            "done" => UploadState::Done,
            other => return Err(UnknownName::new("upload state", other)),
        })
    }
}

vitrine_core::text_column!(UploadState, UploadState::from_str);

/// The tus concatenation extension's two kinds of upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concat {
    /// A piece, uploaded in parallel with others; never a video by itself.
    Partial,
    /// The video made of partial uploads, listed as the client named them (space-separated).
    Final(String),
}

impl fmt::Display for Concat {
    /// As in the `Upload-Concat` header: `partial`, or `final;URL URL…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concat::Partial => f.write_str("partial"),
            Concat::Final(parts) => write!(f, "final;{parts}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub creator_id: AccountId,
    pub video_id: Option<VideoId>,
    pub length: Option<u64>,
    pub offset: u64,
    /// The `Upload-Metadata` header as sent.
    pub metadata: String,
    pub concat: Option<Concat>,
    pub storage: Resumable,
    pub state: UploadState,
    pub expires_at: i64,
}

impl Upload {
    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.length == Some(self.offset)
    }
}

const COLUMNS: &str = "id, creator_id, video_id, length, upload_offset, metadata, concat, \
                       storage, state, expires_at";

impl FromRow<'_, AnyRow> for Upload {
    fn from_row(row: &AnyRow) -> sqlx::Result<Upload> {
        let concat = match row.try_get::<Option<&str>, _>("concat")? {
            None => None,
            Some("partial") => Some(Concat::Partial),
            Some(other) => match other.strip_prefix("final;") {
                Some(parts) => Some(Concat::Final(parts.to_owned())),
                None => {
                    return Err(decode_error(
                        "concat",
                        UnknownName::new("concatenation", other),
                    ))
                }
            },
        };
        Ok(Upload {
            id: row.try_get("id")?,
            creator_id: row.try_get("creator_id")?,
            video_id: row.try_get("video_id")?,
            length: row
                .try_get::<Option<i64>, _>("length")?
                .map(u64::try_from)
                .transpose()
                .map_err(|e| decode_error("length", e))?,
            offset: u64::try_from(row.try_get::<i64, _>("upload_offset")?)
                .map_err(|e| decode_error("upload_offset", e))?,
            metadata: row.try_get("metadata")?,
            concat,
            storage: serde_json::from_str(row.try_get("storage")?)
                .map_err(|e| decode_error("storage", e))?,
            state: row.try_get("state")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub async fn insert(tx: &mut Tx, upload: &Upload) -> anyhow::Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO uploads (id, creator_id, video_id, length, upload_offset, metadata, concat, \
         storage, state, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(upload.id.as_str())
    .bind(upload.creator_id.as_str())
    .bind(upload.video_id.as_ref().map(VideoId::as_str))
    .bind(upload.length.map(to_i64))
    .bind(to_i64(upload.offset))
    .bind(&upload.metadata)
    .bind(upload.concat.as_ref().map(|c| c.to_string()))
    .bind(serde_json::to_string(&upload.storage)?)
    .bind(upload.state.as_str())
    .bind(upload.expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &UploadId) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await
}

/// The upload that is (or was) becoming `video`.
pub async fn for_video(db: &Db, video: &VideoId) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE video_id = $1 LIMIT 1"
    ))
    .bind(video.as_str())
    .fetch_optional(db.pool())
    .await
}

/// Takes (or renews) the write lease on an upload for `lease_ms`; false if another writer
/// holds it.
pub async fn lock(db: &Db, id: &UploadId, owner: &str, lease_ms: i64) -> sqlx::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE uploads SET lock_owner = $1, lock_until = {now} + $2 \
         WHERE id = $3 AND (lock_owner IS NULL OR lock_owner = $1 OR lock_until < {now})"
    ))
    .bind(owner)
    .bind(lease_ms)
    .bind(id.as_str())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Extends a lease `owner` still holds; false if it holds it no more (released or taken over).
pub async fn renew(db: &Db, id: &UploadId, owner: &str, lease_ms: i64) -> sqlx::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE uploads SET lock_until = {now} + $1 WHERE id = $2 AND lock_owner = $3"
    ))
    .bind(lease_ms)
    .bind(id.as_str())
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn unlock(db: &Db, id: &UploadId, owner: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE uploads SET lock_owner = NULL, lock_until = NULL \
         WHERE id = $1 AND lock_owner = $2",
    )
    .bind(id.as_str())
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records bytes the store now holds durably, and renews the lease. False if the lease was
/// lost (it expired and another writer took over): the caller must stop writing.
pub async fn record_progress(
    db: &Db,
    upload: &Upload,
    owner: &str,
    lease_ms: i64,
) -> anyhow::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE uploads SET upload_offset = $1, storage = $2, length = $3, state = $4, \
         lock_until = {now} + $5, updated_at = $6, expires_at = $9 \
         WHERE id = $7 AND lock_owner = $8"
    ))
    .bind(to_i64(upload.offset))
    .bind(serde_json::to_string(&upload.storage)?)
    .bind(upload.length.map(to_i64))
    .bind(upload.state.as_str())
    .bind(lease_ms)
    .bind(now_ms())
    .bind(upload.id.as_str())
    .bind(owner)
    .bind(upload.expires_at)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_state(db: &Db, id: &UploadId, state: UploadState) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now_ms())
        .bind(id.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Points a finished upload at the video it turned out to duplicate.
pub async fn set_video(tx: &mut Tx, id: &UploadId, video: &VideoId) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET video_id = $1, updated_at = $2 WHERE id = $3")
        .bind(video.as_str())
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &UploadId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Uploads still receiving (or partial uploads never concatenated) whose expiry has passed,
/// oldest first.
pub async fn expired(db: &Db, limit: i64) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at < $1 \
         AND ((state = 'receiving' AND (length IS NULL OR upload_offset < length)) \
              OR (state = 'stored' AND concat = 'partial')) \
         ORDER BY expires_at LIMIT $2"
    ))
    .bind(now_ms())
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// Uploads whose bytes have all arrived but that were not completed or admitted within
/// `grace_ms` (the request finishing them died or its store call failed). A client that saw its
/// offset reach the length sends nothing more, so these must be finished here, never expired.
pub async fn stranded(db: &Db, grace_ms: i64, limit: i64) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE updated_at < $1 \
         AND ((state = 'stored' AND (concat IS NULL OR concat <> 'partial')) \
              OR (state = 'receiving' AND length IS NOT NULL AND upload_offset = length)) \
         ORDER BY updated_at LIMIT $2"
    ))
    .bind(now_ms() - grace_ms)
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// A one-time upload URL handed to an app.
#[derive(Debug, Clone)]
pub struct DirectUpload {
    pub id: DirectUploadId,
    pub creator_id: AccountId,
    pub title: Option<String>,
    pub max_size: u64,
    pub expires_at: i64,
    pub upload_id: Option<UploadId>,
}

pub async fn insert_direct(db: &Db, direct: &DirectUpload) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO direct_uploads (id, creator_id, title, max_size, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(direct.id.as_str())
    .bind(direct.creator_id.as_str())
    .bind(direct.title.as_deref())
    .bind(to_i64(direct.max_size))
    .bind(direct.expires_at)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get_direct(db: &Db, id: &DirectUploadId) -> sqlx::Result<Option<DirectUpload>> {
    sqlx::query_as(
        "SELECT id, creator_id, title, max_size, expires_at, upload_id FROM direct_uploads \
         WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await
}

impl FromRow<'_, AnyRow> for DirectUpload {
    fn from_row(row: &AnyRow) -> sqlx::Result<DirectUpload> {
        Ok(DirectUpload {
            id: row.try_get("id")?,
            creator_id: row.try_get("creator_id")?,
            title: row.try_get("title")?,
            max_size: u64::try_from(row.try_get::<i64, _>("max_size")?)
                .map_err(|e| decode_error("max_size", e))?,
            expires_at: row.try_get("expires_at")?,
            upload_id: row.try_get("upload_id")?,
        })
    }
}

/// The size limit of the direct upload that created `upload`, if one did.
pub async fn direct_limit_for(db: &Db, upload: &UploadId) -> anyhow::Result<Option<u64>> {
    let row = sqlx::query("SELECT max_size FROM direct_uploads WHERE upload_id = $1")
        .bind(upload.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .map(|row| row.try_get::<i64, _>("max_size"))
        .transpose()?
        .map(|n| u64::try_from(n).unwrap_or(0)))
}

/// Spends a direct upload on `upload`: false if it was already spent or has expired.
pub async fn claim_direct(
    tx: &mut Tx,
    id: &DirectUploadId,
    upload: &UploadId,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE direct_uploads SET upload_id = $1 \
         WHERE id = $2 AND upload_id IS NULL AND expires_at > $3",
    )
    .bind(upload.as_str())
    .bind(id.as_str())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records that `alias` (a video id handed out at upload creation) is now `video`.
pub async fn insert_alias(tx: &mut Tx, alias: &VideoId, video: &VideoId) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO video_aliases (id, video_id, created_at) VALUES ($1, $2, $3)")
        .bind(alias.as_str())
        .bind(video.as_str())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn resolve_alias(db: &Db, alias: &VideoId) -> sqlx::Result<Option<VideoId>> {
    let row = sqlx::query("SELECT video_id FROM video_aliases WHERE id = $1")
        .bind(alias.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.map(|row| row.try_get::<String, _>("video_id").map(VideoId::from_db))
        .transpose()
}
