//! From a spooled file to a queued video: probe, store the original, then record the video and
//! its job in one transaction.

use anyhow::Context;
use vitrine_api::{ApiError, AppState};
use vitrine_assets::keys;
use vitrine_core::{
    ids::{AccountId, VideoId},
    videos::{self, NewVideo, VideoStatus},
};
use vitrine_transcode::{limits, probe, queue};

use crate::spool::Spooled;

/// How many times a transcode is tried before the video is failed.
pub const MAX_ATTEMPTS: i64 = 3;

pub async fn accept(
    state: &AppState,
    creator: &AccountId,
    title: &str,
    spooled: Spooled,
) -> Result<VideoId, ApiError> {
    let info = {
        let path = spooled.file.to_path_buf();
        tokio::task::spawn_blocking(move || probe::probe(&path, probe::DEFAULT_TIMEOUT))
            .await
            .context("probe task")?
    }
    .map_err(probe_rejection)?;
    limits::check(&state.limits.media, &info)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string()))?;

    let id = VideoId::generate();
    let original = keys::original(id.as_str());
    state
        .store
        .put_file(&original, &spooled.file, "application/octet-stream")
        .await
        .context("storing the original")?;

    let recorded: anyhow::Result<()> = async {
        let mut tx = state.db.begin().await?;
        videos::insert(
            &mut tx,
            NewVideo {
                id: &id,
                creator_id: creator,
                title,
                status: VideoStatus::Queued,
                duration_ms: Some(info.duration_ms),
                width: Some(info.width),
                height: Some(info.height),
                source_size: spooled.size as i64,
                source_sha256: &spooled.sha256,
            },
        )
        .await?;
        queue::enqueue(&state.db, &mut tx, &id, MAX_ATTEMPTS).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = recorded {
        // Nothing refers to the original yet: do not leave it behind.
        let _ = state.store.delete(&original).await;
        return Err(e.context("recording the video").into());
    }
    tracing::info!(video = %id, size = spooled.size, width = info.width, height = info.height,
        duration_ms = info.duration_ms, codec = %info.video_codec, "upload accepted");
    Ok(id)
}

fn probe_rejection(e: probe::ProbeError) -> ApiError {
    use probe::ProbeError::*;
    let code = match &e {
        NotMedia(_) => "not_a_video",
        NoVideo => "no_video_stream",
        TooSmall { .. } => "video_too_small",
        Unsupported(_) => "unsupported_codec",
        Truncated { .. } => "truncated_video",
        Failed(_) => "unreadable_video",
    };
    ApiError::invalid(code, e.to_string())
}
