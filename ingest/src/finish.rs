//! The end of a resumable upload: once every byte is in, the object is completed in the store,
//! then the file is hashed and probed and the video admitted (queued), refused (failed, with the
//! reason), or recognised as a copy of one the creator already has.
//!
//! Every step is safe to run again: a request that dies half-way leaves the upload `stored`, and
//! the sweep ([`crate::sweep`]) finishes it.

use anyhow::Context;
use vitrine_api::AppState;
use vitrine_assets::{keys, Store};
use vitrine_core::videos;
use vitrine_transcode::queue;

use crate::{
    upload::{self, UploadError, MAX_ATTEMPTS},
    uploads::{self, Concat, Upload, UploadState},
};

/// Where the bytes of `upload` are assembled (the S3 tail object, or the filesystem's staging
/// file).
pub fn staging_key(upload: &Upload) -> String {
    format!("uploads/{}.staging", upload.id)
}

/// Where the bytes of `upload` end up: the video's original, or a partial upload's own object.
pub fn target_key(upload: &Upload) -> String {
    match &upload.video_id {
        Some(video) if upload.concat != Some(Concat::Partial) => keys::original(video.as_str()),
        _ => format!("uploads/{}.data", upload.id),
    }
}

/// Completes the stored object and marks the upload `stored`.
pub async fn complete(state: &AppState, upload: &mut Upload) -> anyhow::Result<()> {
    state
        .store
        .complete_resumable(
            &target_key(upload),
            &staging_key(upload),
            &upload.storage,
            &state.limits.spool_dir,
        )
        .await
        .context("completing the stored upload")?;
    upload.state = UploadState::Stored;
    uploads::set_state(&state.db, &upload.id, UploadState::Stored).await?;
    Ok(())
}

/// Hashes, probes and admits a `stored` upload that makes a video. Errors are internal (the
/// store or the database failed): a file that is not a usable video fails the video instead.
pub async fn admit(state: &AppState, upload: &mut Upload) -> anyhow::Result<()> {
    let Some(video) = upload.video_id.clone() else {
        return Ok(());
    };
    if upload.concat == Some(Concat::Partial) || upload.state != UploadState::Stored {
        return Ok(());
    }
    let target = target_key(upload);
    let local = LocalCopy::of(&state.store, &target, &state.limits.spool_dir).await?;
    let sha256 = upload::sha256_of(local.path()).await?;

    if let Some(existing) = videos::find_by_source(&state.db, &upload.creator_id, &sha256).await? {
        if existing != video {
            tracing::info!(upload = %upload.id, video = %existing, "upload is a copy of an existing video");
            let mut tx = state.db.begin().await?;
            uploads::insert_alias(&mut tx, &video, &existing).await?;
            uploads::set_video(&mut tx, &upload.id, &existing).await?;
            tx.commit().await?;
            videos::delete(&state.db, &video).await?;
            state.store.delete(&target).await?;
            upload.video_id = Some(existing);
            return done(state, upload).await;
        }
    }

    match upload::check(state, &upload.creator_id, local.path()).await {
        Ok(info) => {
            let mut tx = state.db.begin().await?;
            let admitted = videos::admit(
                &mut tx,
                &video,
                videos::Source {
                    duration_ms: info.duration_ms,
                    width: info.width,
                    height: info.height,
                    size: i64::try_from(upload.offset)?,
                    sha256: &sha256,
                },
            )
            .await?;
            if admitted {
                queue::enqueue(&state.db, &mut tx, &video, MAX_ATTEMPTS).await?;
            }
            tx.commit().await?;
            // Tags placed while the duration was unknown are checked now.
            vitrine_shop::tags::revalidate(&state.db, &video, info.duration_ms).await?;
            tracing::info!(upload = %upload.id, %video, size = upload.offset, "resumable upload admitted");
        }
        Err(UploadError::Rejected(rejection)) => {
            let reason = rejection.to_string();
            tracing::info!(upload = %upload.id, %video, code = rejection.code(), %reason, "resumable upload refused");
            let mut tx = state.db.begin().await?;
            videos::mark_failed(&mut tx, &video, &reason).await?;
            tx.commit().await?;
            // Nothing will ever read a refused file: reclaim the space.
            state.store.delete(&target).await?;
        }
        Err(other) => return Err(anyhow::Error::new(other).context("probing the upload")),
    }
    done(state, upload).await
}

async fn done(state: &AppState, upload: &mut Upload) -> anyhow::Result<()> {
    upload.state = UploadState::Done;
    uploads::set_state(&state.db, &upload.id, UploadState::Done).await?;
    Ok(())
}

/// A stored object as a local file: the filesystem store's own file, or a download of the S3
/// object into scratch space (removed when dropped).
pub enum LocalCopy {
    InPlace(std::path::PathBuf),
    Downloaded(tempfile::TempPath),
}

impl LocalCopy {
    pub async fn of(store: &Store, key: &str, scratch: &std::path::Path) -> anyhow::Result<Self> {
        if let Some(root) = store.local_root() {
            return Ok(LocalCopy::InPlace(root.join(key)));
        }
        tokio::fs::create_dir_all(scratch).await?;
        let path = tempfile::Builder::new()
            .prefix("download-")
            .tempfile_in(scratch)?
            .into_temp_path();
        store.get_to_file(key, &path).await?;
        Ok(LocalCopy::Downloaded(path))
    }

    pub fn path(&self) -> &std::path::Path {
        match self {
            LocalCopy::InPlace(path) => path,
            LocalCopy::Downloaded(path) => path,
        }
    }
}
