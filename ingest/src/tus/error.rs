//! Why a tus request is refused: one enum for the protocol's headers, the upload's state and
//! the faults, so a handler answers with `?`. Mapped to statuses and codes once, at the edge
//! (`http::error`).

use axum::http::HeaderName;

use super::direct::DirectUploadError;
use crate::{quota::QuotaError, upload::TitleError};

/// Why a tus request (or a direct upload's creation) is refused. Mapped to statuses and codes
/// once, at the edge (`http::error`).
#[derive(Debug, thiserror::Error)]
pub enum TusError {
    // The request's headers.
    #[error("send Tus-Resumable: 1.0.0 with every tus request")]
    MissingVersion,
    #[error("this server speaks tus 1.0.0 (Tus-Resumable: 1.0.0)")]
    UnsupportedVersion,
    #[error("{0} is not valid text")]
    NotText(HeaderName),
    #[error("send the file's size as Upload-Length (or Upload-Defer-Length: 1)")]
    MissingLength,
    #[error("send Upload-Length or Upload-Defer-Length, not both")]
    LengthAndDeferLength,
    #[error("Upload-Defer-Length must be 1")]
    InvalidDeferLength,
    #[error("Upload-Length must be a number of bytes, not {0:?}")]
    InvalidLength(String),
    #[error("send Upload-Offset")]
    MissingOffset,
    #[error("Upload-Offset must be a number of bytes, not {0:?}")]
    InvalidOffset(String),
    #[error("Upload-Concat must be `partial` or `final;URL URL…`")]
    InvalidConcat,
    #[error("{0:?} is not an upload URL of this server")]
    NotAnUploadUrl(String),
    #[error("a final upload must name at least one partial upload")]
    NoPartials,
    #[error("Upload-Metadata pairs are `key base64value`; {0:?} is not")]
    InvalidMetadataPair(String),
    #[error("the value of {0:?} in Upload-Metadata is not base64 text")]
    MetadataNotBase64(String),
    #[error("Upload-Checksum is `algorithm base64digest`")]
    InvalidChecksum,
    #[error("the Upload-Checksum digest is not base64")]
    ChecksumNotBase64,
    #[error("checksum algorithm {0:?} is not supported; use sha1 or sha256")]
    UnsupportedChecksumAlgorithm(String),
    #[error(
        "a PATCH with Upload-Checksum carries at most {} MiB; send the file in smaller chunks",
        .max >> 20
    )]
    ChecksummedBodyTooLarge { max: u64 },
    #[error("send the bytes with Content-Type: application/offset+octet-stream")]
    NotOffsetStream,
    #[error("the file's type is {0}; upload a video (video/*)")]
    NotVideoType(String),

    // The upload and its state.
    #[error("upload not found")]
    UploadNotFound,
    #[error("this upload expired before it was finished; start a new one")]
    UploadExpired,
    #[error("this upload is finished; delete its video with DELETE /v1/videos/{{id}}")]
    UploadFinished,
    #[error("a final upload is made of its partial uploads and takes no bytes of its own")]
    FinalTakesNoBytes,
    #[error("there is no upload {0:?} of yours to concatenate")]
    NoSuchPartial(String),
    #[error("{0:?} was not created as a partial upload")]
    NotPartial(String),
    #[error(
        "{url:?} has {offset} of its {} bytes: finish it before concatenating",
        .length.map_or("?".to_owned(), |l| l.to_string())
    )]
    PartialUnfinished {
        url: String,
        offset: u64,
        length: Option<u64>,
    },
    #[error("the upload is {length} bytes, more than the limit of {max} bytes")]
    TooLarge { length: u64, max: u64 },
    #[error("Upload-Length is 0: a video needs bytes")]
    EmptyUpload,
    #[error("the upload's length is already {0} bytes")]
    LengthAlreadyKnown(u64),
    #[error("{0} bytes have already arrived")]
    LengthBelowOffset(u64),
    #[error("Upload-Offset is {sent} but the upload has {current} bytes: resume from {current}")]
    OffsetMismatch { sent: u64, current: u64 },
    /// Another request holds the write lease and did not let go in time.
    #[error("another request is writing to this upload; retry in a few seconds")]
    Busy,
    /// The write lease was lost while a piece was being appended.
    #[error("another request took this upload over; resume from its offset")]
    TakenOver,
    #[error("the body goes past the upload's length of {limit} bytes")]
    BodyPastLength { limit: u64 },
    #[error("the body does not match Upload-Checksum; nothing of it was kept")]
    ChecksumMismatch,
    #[error("the upload was interrupted ({reason}); resume from offset {offset}")]
    Interrupted { reason: String, offset: u64 },

    #[error(transparent)]
    Direct(#[from] DirectUploadError),
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Title(#[from] TitleError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
