//! An upload's life apart from its bytes: found by its URL (gone once expired unfinished), its
//! size limit and expiry, and its end when the client terminates it or the sweep expires it.

use vitrine_api::AppState;
use vitrine_core::{
    ids::UploadId,
    time::now_ms,
    videos::{self, VideoStatus},
};

use super::{error::TusError, lease::Lease};
use crate::{
    finish::{staging_key, target_key},
    uploads::{self, Concat, Upload, UploadState},
};

/// The upload named in a URL: [`TusError::UploadNotFound`] if there is none,
/// [`TusError::UploadExpired`] if it expired unfinished.
pub async fn find(state: &AppState, id: &str) -> Result<Upload, TusError> {
    let id = id
        .parse::<UploadId>()
        .map_err(|_| TusError::UploadNotFound)?;
    let upload = uploads::get(&state.db, &id)
        .await?
        .ok_or(TusError::UploadNotFound)?;
    if upload.state == UploadState::Receiving && upload.expires_at <= now_ms() {
        return Err(TusError::UploadExpired);
    }
    Ok(upload)
}

/// The size limit that applies to an upload (a direct upload's may be lower than the server's).
pub async fn max_size(state: &AppState, upload: &Upload) -> Result<u64, TusError> {
    let server = state.limits.max_upload_bytes;
    Ok(uploads::direct_limit_for(&state.db, &upload.id)
        .await?
        .map_or(server, |direct| direct.min(server)))
}

/// A length an upload may have: some bytes, and no more than its size limit.
pub fn check_length(length: u64, max_size: u64) -> Result<(), TusError> {
    if length > max_size {
        return Err(TusError::TooLarge {
            length,
            max: max_size,
        });
    }
    if length == 0 {
        return Err(TusError::EmptyUpload);
    }
    Ok(())
}

/// When an upload that receives a byte now expires unless more arrive (Unix ms).
pub fn expiry(state: &AppState) -> i64 {
    now_ms() + i64::try_from(state.limits.upload_expiry.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Whether an upload can still be thrown away: bytes are arriving, or it is a partial upload
/// (never a video by itself). A finished one has made its video, which stays.
fn can_terminate(upload: &Upload) -> bool {
    upload.state == UploadState::Receiving || upload.concat == Some(Concat::Partial)
}

/// Throws away an unfinished upload at the client's request (tus termination), under the write
/// lease; [`TusError::UploadFinished`] if it finished first.
pub async fn terminate(state: &AppState, id: &str) -> Result<(), TusError> {
    let upload = find(state, id).await?;
    if !can_terminate(&upload) {
        return Err(TusError::UploadFinished);
    }
    let lease = Lease::take(state, &upload.id).await?;
    let terminated = async {
        // Read again under the lease: a last PATCH may have finished the upload (and queued its
        // clip) while this request waited for it. Then the clip stays, and the answer says so.
        let upload = uploads::get(&state.db, &upload.id)
            .await?
            .ok_or(TusError::UploadNotFound)?;
        if !can_terminate(&upload) {
            return Err(TusError::UploadFinished);
        }
        Ok(discard(state, &upload).await?)
    }
    .await;
    lease.release().await;
    terminated
}

/// Removes an unfinished upload's bytes, its video (still uploading) and its row.
pub async fn discard(state: &AppState, upload: &Upload) -> anyhow::Result<()> {
    state
        .store
        .abort_resumable(&target_key(upload), &staging_key(upload), &upload.storage)
        .await?;
    if upload.concat == Some(Concat::Partial) {
        state.store.delete(&target_key(upload)).await?;
    }
    if let Some(video) = &upload.video_id {
        if let Some(v) = videos::get(&state.db, video).await? {
            if v.status == VideoStatus::Uploading {
                videos::delete(&state.db, video).await?;
            }
        }
    }
    uploads::delete(&state.db, &upload.id).await?;
    tracing::info!(upload = %upload.id, "upload discarded");
    Ok(())
}
