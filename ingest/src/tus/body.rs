//! A request's body into an upload: a PATCH's (or a creation's first bytes) is spooled to local
//! disk a piece at a time (8 MiB, or the whole PATCH when it carries a checksum, which must be
//! verified before any of it is kept), each piece appended to the object store durably under
//! the write lease, and only then recorded as the new offset: the offset HEAD reports is always
//! safe to resume from, whatever crashed.

use std::{path::Path, time::Duration};

use axum::{body::Body, http::HeaderMap};
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use vitrine_api::AppState;

use super::{
    error::TusError,
    headers::{self, Checksum, MAX_CHECKSUMMED_BODY},
    lease::{Lease, LEASE_MS},
    lifecycle,
};
use crate::{
    finish::{self, staging_key, target_key},
    uploads::{self, Concat, Upload, UploadState},
};

/// Bytes spooled, stored and acknowledged at a time when no checksum needs the whole PATCH.
const PIECE: u64 = 8 * 1024 * 1024;
/// A PATCH that sends nothing for this long is ended; what arrived is kept.
const IDLE: Duration = Duration::from_secs(30);

/// Checks a PATCH's headers against the upload; the upload (with its length if this PATCH
/// declares it) and the checksum to verify.
pub async fn check_append(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
) -> Result<(Upload, Option<Checksum>), TusError> {
    headers::check_version(headers)?;
    if !headers::is_offset_stream(headers) {
        return Err(TusError::NotOffsetStream);
    }
    let mut upload = lifecycle::find(state, id).await?;
    if matches!(upload.concat, Some(Concat::Final(_))) {
        return Err(TusError::FinalTakesNoBytes);
    }
    let offset = headers::offset(headers)?;
    if offset != upload.offset {
        return Err(TusError::OffsetMismatch {
            sent: offset,
            current: upload.offset,
        });
    }
    if let Some(length) = headers::patch_length(headers)? {
        match upload.length {
            Some(known) if known != length => return Err(TusError::LengthAlreadyKnown(known)),
            Some(_) => {}
            None => {
                lifecycle::check_length(length, lifecycle::max_size(state, &upload).await?)?;
                if length < upload.offset {
                    return Err(TusError::LengthBelowOffset(upload.offset));
                }
                upload.length = Some(length);
            }
        }
    }
    let checksum = headers::checksum(headers)?;
    Ok((upload, checksum))
}

/// Reads a PATCH (or creation-with-upload) body into the upload, piece by piece, each piece
/// stored durably before it is recorded. With a checksum the whole body is one piece, verified
/// before it is stored. Finishes the upload when its last byte arrives.
///
/// The write lease is held only while a spooled piece is appended and recorded, not while bytes
/// trickle in, so the client can resume at once after a request that died. Two requests racing
/// on one upload are told apart at the append: the piece must start at the recorded offset, or
/// the request is refused with [`TusError::OffsetMismatch`].
pub async fn write_body(
    state: &AppState,
    upload: &mut Upload,
    mut checksum: Option<Checksum>,
    body: Body,
) -> Result<(), TusError> {
    let scratch = state.limits.spool_dir.clone();
    tokio::fs::create_dir_all(&scratch)
        .await
        .map_err(|e| anyhow::Error::new(e).context("creating the spool directory"))?;
    // Bytes this upload may still take: up to its length, or the size limit while deferred.
    let total = match upload.length {
        Some(length) => length,
        None => lifecycle::max_size(state, upload).await?,
    };
    let mut stream = body.into_data_stream();
    let mut ended = false;
    let mut interrupted: Option<String> = None;
    let mut overflow = false;
    // The rest of a chunk that did not fit in the previous piece.
    let mut pending: Option<bytes::Bytes> = None;
    while !(ended && pending.is_none()) {
        let room = total.saturating_sub(upload.offset);
        let cap = if checksum.is_some() {
            room
        } else {
            room.min(PIECE)
        };
        let piece = tempfile::Builder::new()
            .prefix("patch-")
            .tempfile_in(&scratch)
            .map_err(|e| anyhow::Error::new(e).context("creating a spool file"))?;
        let (file, path) = piece.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut len = 0u64;
        loop {
            let chunk = match pending.take() {
                Some(chunk) => chunk,
                None if ended => break,
                None => match tokio::time::timeout(IDLE, stream.next()).await {
                    Err(_) => {
                        interrupted = Some(format!("no bytes arrived for {} s", IDLE.as_secs()));
                        ended = true;
                        break;
                    }
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Ok(Some(Err(e))) => {
                        interrupted = Some(e.to_string());
                        ended = true;
                        break;
                    }
                    Ok(Some(Ok(chunk))) => chunk,
                },
            };
            if len + chunk.len() as u64 > room {
                overflow = true;
                ended = true;
                break;
            }
            if checksum.is_some() && len + chunk.len() as u64 > MAX_CHECKSUMMED_BODY {
                return Err(TusError::ChecksummedBodyTooLarge {
                    max: MAX_CHECKSUMMED_BODY,
                });
            }
            let take = usize::try_from(cap - len)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            let (now, later) = chunk.split_at(take);
            if let Some(sum) = &mut checksum {
                sum.update(now);
            }
            file.write_all(now)
                .await
                .map_err(|e| anyhow::Error::new(e).context("spooling the upload"))?;
            len += take as u64;
            metrics::counter!("vitrine_upload_bytes_total").increment(take as u64);
            if !later.is_empty() {
                pending = Some(chunk.slice(take..));
            }
            if len >= cap {
                break;
            }
        }
        if overflow {
            return Err(TusError::BodyPastLength { limit: total });
        }
        if let Some(sum) = checksum.take() {
            if interrupted.is_some() {
                // A checksum covers the whole PATCH: a part of it cannot be verified, so none
                // of it is kept.
                break;
            }
            if !sum.matches() {
                return Err(TusError::ChecksumMismatch);
            }
        }
        file.flush()
            .await
            .map_err(|e| anyhow::Error::new(e).context("spooling the upload"))?;
        drop(file);
        if len == 0 {
            // Nothing arrived for this piece; a piece of a full upload with bytes left over
            // would loop forever, but those are refused as overflow above.
            if ended {
                break;
            }
            continue;
        }
        commit_piece(state, upload, &path, &scratch).await?;
    }
    if upload.is_complete() && upload.state == UploadState::Receiving {
        let lease = Lease::take(state, &upload.id).await?;
        let finished = async {
            finish::complete(state, upload).await?;
            finish::admit(state, upload).await
        }
        .await;
        lease.release().await;
        finished?;
    }
    if let Some(reason) = interrupted {
        tracing::info!(upload = %upload.id, offset = upload.offset, reason, "upload request ended early; resumable");
        return Err(TusError::Interrupted {
            reason,
            offset: upload.offset,
        });
    }
    Ok(())
}

/// Appends a spooled piece at the upload's recorded offset and records the new one, under the
/// write lease.
async fn commit_piece(
    state: &AppState,
    upload: &mut Upload,
    piece: &Path,
    scratch: &Path,
) -> Result<(), TusError> {
    let lease = Lease::take(state, &upload.id).await?;
    let result = async {
        let current = uploads::get(&state.db, &upload.id)
            .await?
            .ok_or(TusError::UploadNotFound)?;
        if current.offset != upload.offset {
            // Another request appended meanwhile: this piece no longer starts at the end.
            return Err(TusError::OffsetMismatch {
                sent: upload.offset,
                current: current.offset,
            });
        }
        upload.storage = current.storage;
        append(state, upload, piece, scratch).await?;
        upload.expires_at = lifecycle::expiry(state);
        if !uploads::record_progress(&state.db, upload, lease.owner(), LEASE_MS).await? {
            return Err(TusError::TakenOver);
        }
        Ok(())
    }
    .await;
    lease.release().await;
    result
}

/// Most of a refused PATCH's body read and thrown away, and for how long.
const DRAIN_LIMIT: usize = 32 << 20;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a refused request's body (up to a limit) before the error goes out: a server that
/// answers while the client is still sending closes the connection with bytes unread, and the
/// reset can reach the client before the answer does (it then sees a broken connection instead
/// of, say, 409 offset_mismatch, and cannot resume properly).
pub async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

/// Appends a local file to the upload's stored object, durably; the upload's offset is then
/// what the store holds. The caller holds the write lease, and records the offset.
pub async fn append(
    state: &AppState,
    upload: &mut Upload,
    file: &Path,
    scratch: &Path,
) -> anyhow::Result<()> {
    state
        .store
        .append_file(
            &target_key(upload),
            &staging_key(upload),
            &mut upload.storage,
            file,
            scratch,
        )
        .await?;
    upload.offset = upload.storage.stored;
    Ok(())
}
