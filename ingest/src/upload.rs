//! From a complete file to a queued video: probe, store the original, then record the video and
//! its job in one transaction. Shared by the one-request upload and by resumable uploads.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use vitrine_api::AppState;
use vitrine_assets::keys;
use vitrine_core::{
    ids::{AccountId, VideoId},
    videos::{self, NewVideo, VideoStatus},
};
use vitrine_transcode::{limits, probe, queue};

use crate::{codes, spool::Spooled};

/// How many times a transcode is tried before the video is failed.
pub const MAX_ATTEMPTS: i64 = 3;
/// Longest video title, in characters.
pub const MAX_TITLE: usize = 200;

/// Why a title is refused.
#[derive(Debug, thiserror::Error)]
pub enum TitleError {
    #[error("a title must not contain NUL (U+0000) characters")]
    Nul,
    #[error("title must be at most {MAX_TITLE} characters")]
    TooLong,
}

/// A title as a client sent it: trimmed, `None` when blank, refused when too long or when it
/// holds a NUL character.
pub fn title(raw: Option<&str>) -> Result<Option<String>, TitleError> {
    let title = raw.map(str::trim).filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.contains('\0')) {
        return Err(TitleError::Nul);
    }
    if title.is_some_and(|t| t.chars().count() > MAX_TITLE) {
        return Err(TitleError::TooLong);
    }
    Ok(title.map(str::to_owned))
}

/// Why a file is not an acceptable video: the client is told, and a resumable upload's video
/// fails with the reason (`finish`). Everything else that stops an upload is a fault.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// GStreamer could not make a usable video of it.
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
    /// Longer, larger or faster than the media limits.
    #[error(transparent)]
    Limits(#[from] limits::LimitError),
    /// It would take the creator past their minutes of video of the last 24 hours.
    #[error(
        "this video would take you past {limit_minutes} minutes of video in 24 hours \
         ({used_minutes} used)"
    )]
    DailyMinutes {
        limit_minutes: i64,
        used_minutes: i64,
    },
}

impl Rejection {
    /// The stable code a client (and a failed video) knows this refusal by.
    pub fn code(&self) -> &'static str {
        use probe::ProbeError::*;
        match self {
            Rejection::Probe(e) => match e {
                NotMedia(_) => codes::NOT_A_VIDEO,
                NoVideo => codes::NO_VIDEO_STREAM,
                TooSmall { .. } => codes::VIDEO_TOO_SMALL,
                Unsupported(_) => codes::UNSUPPORTED_CODEC,
                Truncated { .. } => codes::TRUNCATED_VIDEO,
                Failed(_) => codes::UNREADABLE_VIDEO,
            },
            Rejection::Limits(e) => e.code(),
            Rejection::DailyMinutes { .. } => codes::DAILY_MINUTES_LIMIT,
        }
    }
}

/// What stops a complete file from becoming a video: the file itself, or a fault.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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
) -> Result<Accepted, UploadError> {
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
/// creator's daily minutes: the probe's findings, or the [`Rejection`] that says what is wrong
/// with the file.
pub async fn check(
    state: &AppState,
    creator: &AccountId,
    path: &Path,
) -> Result<probe::ProbeInfo, UploadError> {
    let info = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || probe::probe(&path, probe::DEFAULT_TIMEOUT))
            .await
            .context("probe task")?
    }
    .map_err(Rejection::from)?;
    limits::check(&state.limits.media, &info).map_err(Rejection::from)?;
    check_minutes(state, creator, info.duration_ms).await?;
    Ok(info)
}

/// Once a clip's duration is known: refused if it would take the creator past their minutes of
/// the last 24 hours (the clip itself excluded, it is not counted yet).
async fn check_minutes(
    state: &AppState,
    creator: &AccountId,
    duration_ms: i64,
) -> Result<(), UploadError> {
    let limit_minutes = state.limits.quotas.max_upload_minutes_per_day;
    let used = crate::quota::minutes_used_today(state, creator).await?;
    if used.saturating_add(duration_ms.max(0)) > limit_minutes.saturating_mul(60_000) {
        return Err(Rejection::DailyMinutes {
            limit_minutes,
            used_minutes: used / 60_000,
        }
        .into());
    }
    Ok(())
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
