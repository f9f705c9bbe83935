//! Per-creator upload quotas and the disk's free-space floor, checked before a new upload takes
//! a byte, so one creator cannot fill the disk or the queue, and the database never fails for
//! lack of space. The daily minutes are counted here and applied once a clip's duration is known
//! (`upload::check`: a file over them is a `Rejection`, not a quota error).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use sqlx::Row;
use vitrine_api::AppState;
use vitrine_core::{ids::AccountId, time::now_ms};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Why a new upload may not start now.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("you have {count} unfinished uploads (the most is {max}): finish or cancel one first")]
    TooManyUnfinished { count: i64, max: i64 },
    #[error(
        "your unfinished uploads would hold more than {} MiB: finish or cancel one first",
        .max_bytes >> 20
    )]
    UnfinishedBytes { max_bytes: u64 },
    #[error(
        "you uploaded {count} videos in the last 24 hours, the most allowed; the next one can \
         start in {} minutes",
        (.wait_ms + 59_999) / 60_000
    )]
    DailyUploads {
        count: i64,
        /// Until the oldest upload of the day leaves the window (at least a second).
        wait_ms: i64,
    },
    #[error("the server is short of disk space; try again later")]
    InsufficientStorage,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl QuotaError {
    /// When to try again, for the quotas that lift by themselves.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            QuotaError::DailyUploads { wait_ms, .. } => {
                Some(u64::try_from(wait_ms / 1000).unwrap_or(1))
            }
            _ => None,
        }
    }
}

/// A place among a creator's unfinished uploads, held while a single-request upload is being
/// received (a resumable one has its row instead): given back when dropped.
pub struct UploadSlot {
    table: Arc<Mutex<HashMap<String, i64>>>,
    creator: String,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap();
        if let Some(n) = table.get_mut(&self.creator) {
            *n -= 1;
            if *n <= 0 {
                table.remove(&self.creator);
            }
        }
    }
}

/// Before a new upload (one request, or a resumable one's creation) of `length` bytes, if
/// known: the disk's floor, the creator's unfinished uploads (resumable ones in the database,
/// single-request ones being received by this process) and their uploads of the day. The slot
/// counts this upload among the unfinished ones until it is dropped.
pub async fn check_new_upload(
    state: &AppState,
    creator: &AccountId,
    length: Option<u64>,
) -> Result<UploadSlot, QuotaError> {
    check_space(state, length.unwrap_or(0))?;
    let quotas = &state.limits.quotas;
    let unfinished = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(COALESCE(length, upload_offset)), 0) AS BIGINT) \
         AS bytes FROM uploads WHERE creator_id = $1 AND state = 'receiving'",
    )
    .bind(creator.as_str())
    .fetch_one(state.db.pool())
    .await?;
    let (resumable, bytes): (i64, i64) = (unfinished.try_get("n")?, unfinished.try_get("bytes")?);
    let table = state.limits.uploads_in_flight.clone();
    let count = resumable
        + table
            .lock()
            .unwrap()
            .get(creator.as_str())
            .copied()
            .unwrap_or(0);
    if count >= quotas.max_unfinished_uploads {
        return Err(QuotaError::TooManyUnfinished {
            count,
            max: quotas.max_unfinished_uploads,
        });
    }
    let bytes = u64::try_from(bytes).unwrap_or(0);
    if bytes.saturating_add(length.unwrap_or(0)) > quotas.max_unfinished_bytes {
        return Err(QuotaError::UnfinishedBytes {
            max_bytes: quotas.max_unfinished_bytes,
        });
    }
    let since = now_ms() - DAY_MS;
    // Deleted videos count too: uploading, deleting and uploading again is still uploading.
    let day = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ( \
           SELECT created_at FROM videos WHERE creator_id = $1 AND created_at >= $2 \
           UNION ALL \
           SELECT created_at FROM deleted_videos WHERE creator_id = $1 AND created_at >= $2 \
         ) AS today",
    )
    .bind(creator.as_str())
    .bind(since)
    .fetch_one(state.db.pool())
    .await?;
    let (count, oldest): (i64, Option<i64>) = (day.try_get("n")?, day.try_get("oldest")?);
    if count >= quotas.max_uploads_per_day {
        let wait_ms = oldest.map_or(DAY_MS, |o| o + DAY_MS - now_ms()).max(1000);
        return Err(QuotaError::DailyUploads { count, wait_ms });
    }
    // Taken and checked again under the lock: two uploads arriving at once get one place each.
    let mut in_flight = table.lock().unwrap();
    let mine = in_flight.entry(creator.as_str().to_owned()).or_insert(0);
    if resumable + *mine >= quotas.max_unfinished_uploads {
        return Err(QuotaError::TooManyUnfinished {
            count: resumable + *mine,
            max: quotas.max_unfinished_uploads,
        });
    }
    *mine += 1;
    drop(in_flight);
    Ok(UploadSlot {
        table,
        creator: creator.as_str().to_owned(),
    })
}

/// The creator's minutes of video of the last 24 hours, in milliseconds: every clip admitted
/// (deleted ones too), none refused. The daily minutes quota is applied once a clip's duration
/// is known (`upload::check`).
pub async fn minutes_used_today(state: &AppState, creator: &AccountId) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(d), 0) AS BIGINT) FROM ( \
           SELECT duration_ms AS d FROM videos WHERE creator_id = $1 AND created_at >= $2 \
           AND status IN ('queued', 'processing', 'playable', 'ready') \
           UNION ALL \
           SELECT duration_ms AS d FROM deleted_videos \
           WHERE creator_id = $1 AND created_at >= $2 AND duration_ms IS NOT NULL \
         ) AS today",
    )
    .bind(creator.as_str())
    .bind(now_ms() - DAY_MS)
    .fetch_one(state.db.pool())
    .await
}

/// [`QuotaError::InsufficientStorage`] unless `incoming` more bytes leave the floor free on the
/// data directory's disk.
pub fn check_space(state: &AppState, incoming: u64) -> Result<(), QuotaError> {
    let dir = &state.limits.spool_dir;
    let probe = if dir.exists() {
        dir.as_path()
    } else {
        dir.parent().unwrap_or(Path::new("."))
    };
    let Some(free) = free_bytes(probe) else {
        return Ok(());
    };
    let floor = state.limits.quotas.min_free_disk_bytes;
    if free < floor.saturating_add(incoming) {
        metrics::counter!("vitrine_uploads_refused_for_space_total").increment(1);
        return Err(QuotaError::InsufficientStorage);
    }
    Ok(())
}

/// Free bytes (for unprivileged users) on the filesystem holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the struct we own; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
