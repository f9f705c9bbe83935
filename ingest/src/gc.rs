//! Garbage collection, run with the upload sweep by every API process:
//!
//! - a deleted video's objects (renditions and original) are removed once the grace period has
//!   passed (a worker transcoding it when it was deleted has lost its lease by then and stopped
//!   writing), then its tombstone;
//! - originals without a video row — left by a crash between storing an original and
//!   committing its row, or by a deletion whose collection failed — are removed when two passes
//!   in a row find them so (the first sighting may be an upload about to commit);
//! - request bodies spooled by requests that died (files in the spool directory nobody wrote
//!   to for hours) are removed.
//!
//! Scratch directories of dead workers are the worker's own business (`vitrine_transcode`).

use std::{
    collections::HashSet,
    path::Path,
    time::{Duration, SystemTime},
};

use vitrine_api::AppState;
use vitrine_assets::keys;
use vitrine_core::{time::now_ms, videos};

/// How long after a deletion its objects are removed: longer than any lease, so the worker
/// that was transcoding the video has stopped.
pub const GRACE: Duration = Duration::from_secs(180);
/// A spooled body nobody wrote to for this long belongs to a request that is gone.
pub const STALE_SPOOL: Duration = Duration::from_secs(3 * 3600);
/// Deleted videos collected per round.
const BATCH: i64 = 100;

/// What one round removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    pub deleted_videos: usize,
    pub orphan_originals: usize,
    pub stale_spool_files: usize,
}

/// The orphan candidates of the previous round (a key must be an orphan twice to go).
#[derive(Debug, Default)]
pub struct Gc {
    suspects: HashSet<String>,
}

impl Gc {
    /// One round, with `grace` after deletions.
    pub async fn collect(
        &mut self,
        state: &AppState,
        grace: Duration,
    ) -> anyhow::Result<Collected> {
        let mut out = Collected::default();
        let before = now_ms() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        for id in videos::deleted_before(&state.db, before, BATCH).await? {
            state
                .store
                .delete_prefix(&keys::video_prefix(id.as_str()))
                .await?;
            state.store.delete(&keys::original(id.as_str())).await?;
            videos::forget_deleted(&state.db, &id).await?;
            out.deleted_videos += 1;
        }

        let originals = state.store.list("originals/").await?;
        let ids: Vec<String> = originals
            .iter()
            .filter_map(|k| k.strip_prefix("originals/"))
            .filter(|id| !id.contains('/'))
            .map(str::to_owned)
            .collect();
        let existing = videos::existing(&state.db, &ids).await?;
        let orphans: HashSet<String> = ids
            .into_iter()
            .filter(|id| !existing.contains(id))
            .collect();
        for id in orphans.intersection(&self.suspects) {
            state.store.delete(&keys::original(id)).await?;
            out.orphan_originals += 1;
        }
        self.suspects = orphans;

        out.stale_spool_files = remove_stale(&state.limits.spool_dir, STALE_SPOOL).await;
        if out != Collected::default() {
            tracing::info!(?out, "garbage collected");
        }
        Ok(out)
    }
}

/// Removes the files directly in `dir` not modified for `age`; how many.
async fn remove_stale(dir: &Path, age: Duration) -> usize {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|elapsed| elapsed > age);
        if meta.is_file() && old && tokio::fs::remove_file(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    removed
}
