//! The background sweep of resumable uploads, run by every API process (the write lease keeps two
//! from working on one upload):
//!
//! - uploads unfinished past their expiry (and partial uploads never concatenated) are removed:
//!   their bytes in the object store (staging file, S3 multipart parts, tail object), their
//!   `uploading` video and their row;
//! - uploads whose bytes all arrived but whose last request died (or failed) before they were
//!   completed, probed and admitted are finished.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vitrine_api::AppState;

use crate::{
    finish, tus,
    uploads::{self, UploadState},
};

/// Uploads handled per round.
const BATCH: i64 = 100;
/// How long a stored upload may wait for the request finishing it before the sweep steps in.
const STRANDED_AFTER_MS: i64 = 60_000;

/// How often garbage is collected (`gc`): deleted videos' objects, orphan originals, stale
/// spool files.
const GC_EVERY: Duration = Duration::from_secs(60);

/// Runs until `shutdown`: a round every `interval`, and a garbage collection every minute.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut gc = crate::gc::Gc::default();
    let mut next_gc = tokio::time::Instant::now();
    loop {
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = format!("{e:#}"), "upload sweep failed; will retry");
        }
        if tokio::time::Instant::now() >= next_gc {
            next_gc = tokio::time::Instant::now() + GC_EVERY;
            if let Err(e) = gc.collect(&state, crate::gc::GRACE).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "garbage collection failed; will retry"
                );
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One round: returns how many uploads were removed and how many finished.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<(usize, usize)> {
    let owner = format!("sweep-{}", uuid::Uuid::new_v4());
    let mut removed = 0;
    for upload in uploads::expired(&state.db, BATCH).await? {
        // A client still writing renews the expiry with every piece: skip busy uploads.
        if !uploads::lock(&state.db, &upload.id, &owner, 60_000).await? {
            continue;
        }
        // Re-read under the lease: a PATCH may have renewed it (or started a multipart upload)
        // since the listing.
        let upload = match uploads::get(&state.db, &upload.id).await? {
            Some(u) if u.expires_at < vitrine_core::time::now_ms() => u,
            _ => {
                let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
                continue;
            }
        };
        match tus::discard(state, &upload).await {
            Ok(()) => removed += 1,
            Err(e) => {
                let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
                tracing::warn!(upload = %upload.id, error = format!("{e:#}"), "could not remove an expired upload");
            }
        }
    }
    let mut finished = 0;
    for mut upload in uploads::stranded(&state.db, STRANDED_AFTER_MS, BATCH).await? {
        if !uploads::lock(&state.db, &upload.id, &owner, 60_000).await? {
            continue;
        }
        let result = async {
            // Re-read under the lease: another request may have finished it meanwhile.
            if let Some(current) = uploads::get(&state.db, &upload.id).await? {
                upload = current;
            }
            if upload.state == UploadState::Receiving && upload.is_complete() {
                finish::complete(state, &mut upload).await?;
            }
            if upload.state == UploadState::Stored {
                finish::admit(state, &mut upload).await?;
            }
            anyhow::Ok(())
        }
        .await;
        let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
        match result {
            Ok(()) => finished += 1,
            Err(e) => {
                tracing::warn!(upload = %upload.id, error = format!("{e:#}"), "could not finish a stored upload")
            }
        }
    }
    if removed + finished > 0 {
        tracing::info!(removed, finished, "upload sweep");
    }
    Ok((removed, finished))
}
