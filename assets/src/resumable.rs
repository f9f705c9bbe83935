//! Objects assembled from pieces that arrive over many requests (resumable uploads), possibly on
//! different machines, each piece durable before anyone is told it arrived.
//!
//! The caller keeps a [`Resumable`] (serializable: it goes in the database next to the offset
//! it vouches for) and calls [`Store::append_file`] with each piece, a local file, then
//! [`Store::complete_resumable`] once every byte is in, or [`Store::abort_resumable`].
//!
//! - **Filesystem:** pieces are appended to a staging file and fsynced; completion renames it to
//!   the target key. The staging file is cut back to `stored` before each append, so bytes
//!   written by a request that crashed before recording them are dropped, not kept twice.
//! - **S3:** pieces become parts of one multipart upload to the target key. S3 wants parts of at
//!   least 5 MiB (all but the last), so bytes that do not fill a part yet are kept in a staging
//!   object (the "tail") and sent with the next piece; completion sends the tail as the last
//!   part. A part sent by a request that crashed before recording it is simply sent again under
//!   the same number; a tail object is only ever read up to the length recorded here.
//!
//! Nothing here is held in memory whole: parts go up from files, tails come down to files.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// S3's smallest part, except for the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// What has been stored of a resumable object. Record it together with the offset it covers:
/// the store trusts it, not what it finds in the staging area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumable {
    /// Bytes durably stored so far.
    pub stored: u64,
    /// S3: the multipart upload, once its first part is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload_id: Option<String>,
    /// S3: the parts sent, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    number: u32,
    etag: String,
    size: u64,
}

impl Resumable {
    /// S3: bytes stored in the tail object, not yet in a part.
    fn tail(&self) -> u64 {
        self.stored - self.parts.iter().map(|part| part.size).sum::<u64>()
    }
}

impl Store {
    /// Durably appends the whole of `piece` to the object being assembled at `target`, using
    /// `staging` for bytes on their way. `scratch` is a local directory for temporary files.
    /// On success `state.stored` grows by the piece's length; on error `state` is unchanged
    /// and the append can be retried.
    pub async fn append_file(
        &self,
        target: &str,
        staging: &str,
        state: &mut Resumable,
        piece: &Path,
        scratch: &Path,
    ) -> Result<(), StoreError> {
        let len = tokio::fs::metadata(piece)
            .await
            .with_context(|| format!("reading size of {}", piece.display()))?
            .len();
        if len == 0 {
            return Ok(());
        }
        match self {
            Store::Fs(store) => store.append_file(staging, state.stored, piece).await?,
            Store::S3(store) => {
                let tail = state.tail();
                // The bytes to send: the piece alone, or the tail followed by the piece.
                let joined;
                let source = if tail == 0 {
                    piece
                } else {
                    joined = scratch_file(scratch)?;
                    store.get_prefix_to_file(staging, tail, &joined).await?;
                    append_local(&joined, piece).await?;
                    &joined
                };
                if tail + len >= MIN_PART_SIZE {
                    let upload_id = match &state.upload_id {
                        Some(id) => id.clone(),
                        None => store.create_multipart(target).await?,
                    };
                    let number = u32::try_from(state.parts.len() + 1).context("part number")?;
                    let etag = store
                        .upload_part_from_file(target, &upload_id, number, source)
                        .await?;
                    state.upload_id = Some(upload_id);
                    state.parts.push(Part {
                        number,
                        etag,
                        size: tail + len,
                    });
                } else {
                    // The old tail object is replaced; a crash before the new state is recorded
                    // leaves the old state pointing at a prefix of the new tail, which is the
                    // same bytes.
                    self.put_file(staging, source, "application/octet-stream")
                        .await?;
                }
            }
        }
        state.stored += len;
        Ok(())
    }

    /// Turns what was appended into the object at `target`. Safe to call again after a crash:
    /// finding the object already complete is success.
    pub async fn complete_resumable(
        &self,
        target: &str,
        staging: &str,
        state: &Resumable,
        scratch: &Path,
    ) -> Result<(), StoreError> {
        match self {
            Store::Fs(store) => store.complete_staged(target, staging, state.stored).await,
            Store::S3(store) => {
                // Completed by an earlier attempt that crashed before recording it.
                if self.head(target).await?.map(|m| m.size) == Some(state.stored) {
                    return self.delete(staging).await;
                }
                let mut state = state.clone();
                let tail = state.tail();
                if state.upload_id.is_none() {
                    // Smaller than one part: the tail is the whole object.
                    let whole = scratch_file(scratch)?;
                    store.get_prefix_to_file(staging, tail, &whole).await?;
                    self.put_file(target, &whole, "application/octet-stream")
                        .await?;
                } else {
                    let upload_id = state.upload_id.clone().expect("checked above");
                    if tail > 0 {
                        let last = scratch_file(scratch)?;
                        store.get_prefix_to_file(staging, tail, &last).await?;
                        let number = u32::try_from(state.parts.len() + 1).context("part number")?;
                        let etag = store
                            .upload_part_from_file(target, &upload_id, number, &last)
                            .await?;
                        state.parts.push(Part {
                            number,
                            etag,
                            size: tail,
                        });
                    }
                    let parts = state
                        .parts
                        .iter()
                        .map(|part| (part.number, part.etag.clone()))
                        .collect();
                    store.complete_multipart(target, &upload_id, parts).await?;
                }
                self.delete(staging).await
            }
        }
    }

    /// Throws away what was appended (an expired or terminated upload).
    pub async fn abort_resumable(
        &self,
        target: &str,
        staging: &str,
        state: &Resumable,
    ) -> Result<(), StoreError> {
        if let (Store::S3(store), Some(upload_id)) = (self, &state.upload_id) {
            store.abort_multipart(target, upload_id).await?;
        }
        self.delete(staging).await
    }
}

/// Appends the file at `piece` to the file at `dest`.
async fn append_local(dest: &Path, piece: &Path) -> Result<(), StoreError> {
    let mut out = tokio::fs::OpenOptions::new()
        .append(true)
        .open(dest)
        .await
        .with_context(|| format!("opening {}", dest.display()))?;
    let mut source = tokio::fs::File::open(piece)
        .await
        .with_context(|| format!("opening {}", piece.display()))?;
    tokio::io::copy(&mut source, &mut out)
        .await
        .with_context(|| format!("appending to {}", dest.display()))?;
    Ok(())
}

/// An empty temporary file in `scratch`, removed when dropped.
fn scratch_file(scratch: &Path) -> Result<tempfile::TempPath, StoreError> {
    Ok(tempfile::Builder::new()
        .prefix("tail-")
        .tempfile_in(scratch)
        .context("creating a scratch file")?
        .into_temp_path())
}
