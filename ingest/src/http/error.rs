//! Where ingest's errors stop: each domain error becomes the API's error — status, code
//! ([`crate::codes`]), message and headers — here and nowhere else. The domain modules
//! (`upload`, `quota`, `tus`, `spool`) return their own enums and never name `ApiError`.

use axum::http::StatusCode;
use vitrine_api::ApiError;

use crate::{
    codes,
    quota::QuotaError,
    spool::SpoolError,
    tus::{DirectUploadError, TusError},
    upload::{Rejection, TitleError, UploadError},
};

/// tus's "checksum mismatch" (checksum extension): not a registered HTTP status.
const CHECKSUM_MISMATCH: u16 = 460;

impl From<Rejection> for ApiError {
    fn from(e: Rejection) -> Self {
        ApiError::invalid(e.code(), e.to_string())
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Rejected(rejection) => rejection.into(),
            UploadError::Db(e) => e.into(),
            UploadError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<TitleError> for ApiError {
    fn from(e: TitleError) -> Self {
        match e {
            // The same refusal as any other text with a NUL, in the API's words.
            TitleError::Nul => vitrine_api::extract::nul_refused(),
            TitleError::TooLong => ApiError::invalid(codes::INVALID_TITLE, e.to_string()),
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        let too_many = |code, e: QuotaError| {
            ApiError::status(StatusCode::TOO_MANY_REQUESTS, code, e.to_string())
        };
        match e {
            QuotaError::TooManyUnfinished { .. } => too_many(codes::TOO_MANY_UNFINISHED_UPLOADS, e),
            QuotaError::UnfinishedBytes { .. } => too_many(codes::UNFINISHED_BYTES_QUOTA, e),
            QuotaError::DailyUploads { .. } => ApiError::RateLimited {
                code: codes::DAILY_UPLOAD_LIMIT,
                retry_after_secs: e.retry_after_secs().unwrap_or(1),
                message: e.to_string(),
            },
            QuotaError::InsufficientStorage => ApiError::status(
                StatusCode::INSUFFICIENT_STORAGE,
                codes::INSUFFICIENT_STORAGE,
                e.to_string(),
            ),
            QuotaError::Db(e) => e.into(),
        }
    }
}

impl From<SpoolError> for ApiError {
    fn from(e: SpoolError) -> Self {
        match e {
            SpoolError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            SpoolError::Empty => ApiError::bad_request(
                codes::EMPTY_BODY,
                "the request body was empty: send the video's bytes",
            ),
            SpoolError::Interrupted(_) => {
                ApiError::bad_request(codes::UPLOAD_INTERRUPTED, e.to_string())
            }
            SpoolError::Io(io) => {
                ApiError::Internal(anyhow::Error::new(io).context("spooling the upload"))
            }
        }
    }
}

impl From<DirectUploadError> for ApiError {
    fn from(e: DirectUploadError) -> Self {
        use DirectUploadError::*;
        let message = e.to_string();
        match e {
            NotFound => ApiError::NotFound("direct upload"),
            Used => ApiError::Conflict {
                code: codes::DIRECT_UPLOAD_USED,
                message,
            },
            Expired => ApiError::status(StatusCode::GONE, codes::DIRECT_UPLOAD_EXPIRED, message),
            InvalidExpiry => ApiError::invalid(codes::INVALID_EXPIRY, message),
            InvalidMaxSize { .. } => ApiError::invalid(codes::INVALID_MAX_SIZE, message),
            Title(e) => e.into(),
            Db(e) => e.into(),
            Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<TusError> for ApiError {
    fn from(e: TusError) -> Self {
        use TusError::*;
        let message = e.to_string();
        let bad_request = |code| ApiError::bad_request(code, message.clone());
        let status = |status, code| ApiError::status(status, code, message.clone());
        let conflict = |code| ApiError::Conflict {
            code,
            message: message.clone(),
        };
        match e {
            MissingVersion => status(
                StatusCode::PRECONDITION_FAILED,
                codes::MISSING_TUS_RESUMABLE,
            ),
            UnsupportedVersion => status(
                StatusCode::PRECONDITION_FAILED,
                codes::UNSUPPORTED_TUS_VERSION,
            ),
            NotText(_) => bad_request(codes::INVALID_HEADER),
            MissingLength => bad_request(codes::MISSING_UPLOAD_LENGTH),
            LengthAndDeferLength
            | InvalidDeferLength
            | InvalidLength(_)
            | LengthAlreadyKnown(_)
            | LengthBelowOffset(_) => bad_request(codes::INVALID_UPLOAD_LENGTH),
            MissingOffset => bad_request(codes::MISSING_UPLOAD_OFFSET),
            InvalidOffset(_) => bad_request(codes::INVALID_UPLOAD_OFFSET),
            InvalidConcat | NotAnUploadUrl(_) | NoPartials | NoSuchPartial(_) | NotPartial(_) => {
                bad_request(codes::INVALID_UPLOAD_CONCAT)
            }
            PartialUnfinished { .. } => bad_request(codes::PARTIAL_UPLOAD_UNFINISHED),
            InvalidMetadataPair(_) | MetadataNotBase64(_) => bad_request(codes::INVALID_METADATA),
            InvalidChecksum | ChecksumNotBase64 => bad_request(codes::INVALID_CHECKSUM),
            UnsupportedChecksumAlgorithm(_) => bad_request(codes::UNSUPPORTED_CHECKSUM_ALGORITHM),
            EmptyUpload => bad_request(codes::EMPTY_UPLOAD),
            Interrupted { .. } => bad_request(codes::UPLOAD_INTERRUPTED),
            ChecksummedBodyTooLarge | TooLarge { .. } | BodyPastLength { .. } => {
                ApiError::PayloadTooLarge(message)
            }
            NotOffsetStream | NotVideoType(_) => ApiError::UnsupportedMediaType(message),
            UploadNotFound => ApiError::NotFound("upload"),
            UploadExpired => status(StatusCode::GONE, codes::UPLOAD_EXPIRED),
            UploadFinished => conflict(codes::UPLOAD_FINISHED),
            FinalTakesNoBytes => ApiError::forbidden(message),
            OffsetMismatch { .. } => conflict(codes::OFFSET_MISMATCH),
            Busy => status(StatusCode::LOCKED, codes::UPLOAD_BUSY),
            // The lease was lost mid-append: the client resumes from the offset, as after 409.
            TakenOver => conflict(codes::UPLOAD_BUSY),
            ChecksumMismatch => status(
                StatusCode::from_u16(CHECKSUM_MISMATCH).expect("a valid status"),
                codes::CHECKSUM_MISMATCH,
            ),
            Direct(e) => e.into(),
            Quota(e) => e.into(),
            Title(e) => e.into(),
            Db(e) => e.into(),
            Internal(e) => ApiError::Internal(e),
        }
    }
}
