//! Creating an upload (tus creation, with creation-with-upload, creation-defer-length and
//! concatenation): every refusal is checked before anything is written, then the upload's row
//! and its video (`uploading`) are written in one transaction, a direct upload spent with them,
//! and the first bytes (or the partial uploads a final one joins) are stored.

use axum::{body::Body, http::HeaderMap};
use vitrine_api::{extract::media_type, AppState};
use vitrine_core::{
    ids::{AccountId, DirectUploadId, UploadId, VideoId},
    videos::{self, NewVideo, VideoStatus},
};

use super::{
    body, direct,
    error::TusError,
    headers::{self, Metadata},
    lease::{Lease, LEASE_MS},
    lifecycle,
};
use crate::{
    finish::{self, target_key},
    quota, upload,
    uploads::{self, Concat, DirectUpload, Upload, UploadState},
};

/// Who an upload is created for, and within which limits.
pub struct Owner {
    creator: AccountId,
    max_size: u64,
    /// The direct upload's title, which wins over the upload's metadata.
    title: Option<String>,
    /// The direct upload spent on this upload.
    direct: Option<DirectUploadId>,
}

impl Owner {
    /// A creator's own upload, within the server's size limit.
    pub fn creator(state: &AppState, creator: &AccountId) -> Owner {
        Owner {
            creator: creator.clone(),
            max_size: state.limits.max_upload_bytes,
            title: None,
            direct: None,
        }
    }

    /// The one upload a direct upload URL allows: its creator's, with its title, within its size
    /// limit (never above the server's).
    pub fn direct(state: &AppState, direct: DirectUpload) -> Owner {
        Owner {
            creator: direct.creator_id,
            max_size: direct.max_size.min(state.limits.max_upload_bytes),
            title: direct.title,
            direct: Some(direct.id),
        }
    }
}

/// A created upload, and whether bytes were stored with its creation (its `Upload-Offset` is
/// then worth reporting).
pub struct Created {
    pub upload: Upload,
    pub stored_bytes: bool,
}

/// Creates the upload a tus creation request asks for, and stores what its body (or the
/// partial uploads it joins) holds.
pub async fn create(
    state: &AppState,
    owner: Owner,
    headers: &HeaderMap,
    body: Body,
) -> Result<Created, TusError> {
    headers::check_version(headers)?;
    let concat = headers::concat(headers)?;
    let partials = match &concat {
        Some(Concat::Final(parts)) => Some(load_partials(state, &owner.creator, parts).await?),
        _ => None,
    };
    let length = match &partials {
        Some(partials) => Some(partials.iter().map(|p| p.offset).sum()),
        None => headers::creation_length(headers)?,
    };
    if let Some(length) = length {
        lifecycle::check_length(length, owner.max_size)?;
    }
    if concat.is_none() || concat == Some(Concat::Partial) {
        // From here the upload's row counts it among the creator's unfinished ones.
        drop(quota::check_new_upload(state, &owner.creator, length).await?);
    }
    // Everything that can refuse the request is checked before anything is written, so a
    // refused creation leaves no upload the client cannot name.
    let with_bytes = headers::is_offset_stream(headers);
    let checksum = if with_bytes {
        headers::checksum(headers)?
    } else {
        None
    };
    let metadata = headers::metadata(headers)?;
    if let Some(filetype) = metadata.get("filetype") {
        let essence = media_type(filetype);
        if !upload::is_video_type(&essence) {
            return Err(TusError::NotVideoType(essence));
        }
    }
    let title = match owner.title.clone() {
        Some(title) => title,
        None => title_from(&metadata)?.unwrap_or_else(|| "Untitled".to_owned()),
    };

    let video_id = (concat != Some(Concat::Partial)).then(VideoId::generate);
    let mut upload = Upload {
        id: UploadId::generate_unguessable(),
        creator_id: owner.creator.clone(),
        video_id: video_id.clone(),
        length,
        offset: 0,
        metadata: metadata.raw,
        concat,
        storage: Default::default(),
        state: UploadState::Receiving,
        expires_at: lifecycle::expiry(state),
    };
    let mut tx = state.db.begin().await?;
    if let Some(video) = &video_id {
        videos::insert(
            &mut tx,
            NewVideo {
                id: video,
                creator_id: &owner.creator,
                title: &title,
                status: VideoStatus::Uploading,
                duration_ms: None,
                width: None,
                height: None,
                source_size: length.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)),
                source_sha256: "",
            },
        )
        .await?;
    }
    uploads::insert(&mut tx, &upload).await?;
    if let Some(direct) = &owner.direct {
        if !uploads::claim_direct(&mut tx, direct, &upload.id).await? {
            drop(tx);
            return Err(direct::why_unclaimed(state, direct).await.into());
        }
    }
    tx.commit().await?;
    tracing::info!(upload = %upload.id, video = ?video_id, length = ?length, "upload created");

    let stored_bytes = if let Some(partials) = partials {
        concatenate(state, &mut upload, &partials).await?;
        true
    } else if with_bytes {
        // creation-with-upload: the body holds the first bytes.
        body::write_body(state, &mut upload, checksum, body).await?;
        true
    } else {
        false
    };
    Ok(Created {
        upload,
        stored_bytes,
    })
}

/// The video's title from the upload's metadata: its `title`, or else its `filename`.
fn title_from(metadata: &Metadata) -> Result<Option<String>, upload::TitleError> {
    upload::title(metadata.get("title").or_else(|| metadata.get("filename")))
}

/// The partial uploads a final upload names, complete and owned by the same creator.
async fn load_partials(
    state: &AppState,
    creator: &AccountId,
    parts: &str,
) -> Result<Vec<Upload>, TusError> {
    let mut partials = Vec::new();
    for (url, id) in headers::final_parts(parts)? {
        let partial = uploads::get(&state.db, &id)
            .await?
            .filter(|p| &p.creator_id == creator)
            .ok_or_else(|| TusError::NoSuchPartial(url.to_owned()))?;
        if partial.concat != Some(Concat::Partial) {
            return Err(TusError::NotPartial(url.to_owned()));
        }
        if partial.state == UploadState::Receiving {
            return Err(TusError::PartialUnfinished {
                url: url.to_owned(),
                offset: partial.offset,
                length: partial.length,
            });
        }
        partials.push(partial);
    }
    Ok(partials)
}

/// Builds the final upload from its partials' stored objects, in order, then admits it.
async fn concatenate(
    state: &AppState,
    upload: &mut Upload,
    partials: &[Upload],
) -> Result<(), TusError> {
    let lease = Lease::take(state, &upload.id).await?;
    let scratch = &state.limits.spool_dir;
    let result: anyhow::Result<()> = async {
        tokio::fs::create_dir_all(scratch).await?;
        for partial in partials {
            let piece = finish::LocalCopy::of(&state.store, &target_key(partial), scratch).await?;
            body::append(state, upload, piece.path(), scratch).await?;
            anyhow::ensure!(
                uploads::record_progress(&state.db, upload, lease.owner(), LEASE_MS).await?,
                "lost the lease on {} while concatenating",
                upload.id
            );
        }
        finish::complete(state, upload).await?;
        finish::admit(state, upload).await
    }
    .await;
    lease.release().await;
    Ok(result?)
}
