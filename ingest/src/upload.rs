//! From a complete file to a queued video: probe, store the original, then record the video and
//! its job in one transaction. Shared by the one-request upload and by resumable uploads.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
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
/// Longest video title, in characters.
pub const MAX_TITLE: usize = 200;

/// A title as a client sent it: trimmed, `None` when blank, 422 when too long or when it holds
/// a NUL character.
pub fn title(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let title = raw.map(str::trim).filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.contains('\0')) {
        return Err(vitrine_api::extract::nul_refused());
    }
    if title.is_some_and(|t| t.chars().count() > MAX_TITLE) {
        return Err(ApiError::invalid(
            "invalid_title",
            format!("title must be at most {MAX_TITLE} characters"),
        ));
    }
    Ok(title.map(str::to_owned))
}

/// Whether a media type may hold a video: `video/*`, or the generic `application/octet-stream`.
pub fn is_video_type(media_type: &str) -> bool {
    media_type.starts_with("video/") || media_type == "application/octet-stream"
}

/// What became of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new video, queued for transcoding.
    New(VideoId),
    /// The creator had already uploaded exactly these bytes: their video, not a second one.
    Existing(VideoId),
}

pub async fn accept(
    state: &AppState,
    creator: &AccountId,
    title: &str,
    spooled: Spooled,
) -> Result<Accepted, ApiError> {
    if let Some(existing) = videos::find_by_source(&state.db, creator, &spooled.sha256).await? {
        tracing::info!(video = %existing, "upload is a copy of an existing video");
        return Ok(Accepted::Existing(existing));
    }
    let info = check(state, creator, &spooled.file).await?;

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
    Ok(Accepted::New(id))
}

/// Probes the file at `path` (on a blocking thread) and applies the media limits and the
/// creator's daily minutes: the probe's findings, or a 422 whose code and message say what is
/// wrong with the file.
pub async fn check(
    state: &AppState,
    creator: &AccountId,
    path: &Path,
) -> Result<probe::ProbeInfo, ApiError> {
    let info = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || probe::probe(&path, probe::DEFAULT_TIMEOUT))
            .await
            .context("probe task")?
    }
    .map_err(probe_rejection)?;
    limits::check(&state.limits.media, &info)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string()))?;
    crate::quota::check_minutes(state, creator, info.duration_ms).await?;
    Ok(info)
}

/// The SHA-256 of a file, read on a blocking thread.
pub async fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut file = std::fs::File::open(&path)
            .with_context(|| format!("opening {} to hash it", path.display()))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("hashing {}", path.display()))?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .context("hash task")?
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
