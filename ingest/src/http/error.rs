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
            // Through the one rule for database errors (a cause chain holding one is classified).
            UploadError::Internal(e) => e.into(),
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
            Internal(e) => e.into(),
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
            ChecksummedBodyTooLarge { .. } | TooLarge { .. } | BodyPastLength { .. } => {
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
            Internal(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{http::header::RETRY_AFTER, response::IntoResponse};
    use vitrine_transcode::{limits::LimitError, probe::ProbeError};

    use super::*;
    use crate::tus::MAX_CHECKSUMMED_BODY;

    /// What a client sees: status, code, message, and `Retry-After` if any.
    struct Seen {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<String>,
    }

    async fn seen(e: ApiError) -> Seen {
        let response = e.into_response();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        Seen {
            status,
            code: body["error"]["code"].as_str().unwrap().to_owned(),
            message: body["error"]["message"].as_str().unwrap().to_owned(),
            retry_after,
        }
    }

    /// Each error against the status, code and message clients saw before the domain had
    /// errors of its own: the mapping must not change a word of them.
    async fn check(cases: Vec<(ApiError, u16, &str, &str)>) {
        for (e, status, code, message) in cases {
            let what = format!("{e:?}");
            let seen = seen(e).await;
            assert_eq!(
                (seen.status, seen.code.as_str(), seen.message.as_str()),
                (status, code, message),
                "{what}"
            );
        }
    }

    #[rustfmt::skip] // One line per case: the table reads as a table.
    #[tokio::test]
    async fn tus_refusals_keep_their_statuses_codes_and_messages() {
        use TusError::*;
        let url = || "/v1/uploads/x".to_owned();
        check(vec![
            (MissingVersion.into(), 412, "missing_tus_resumable", "send Tus-Resumable: 1.0.0 with every tus request"),
            (UnsupportedVersion.into(), 412, "unsupported_tus_version", "this server speaks tus 1.0.0 (Tus-Resumable: 1.0.0)"),
            (NotText(axum::http::HeaderName::from_static("upload-length")).into(), 400, "invalid_header", "upload-length is not valid text"),
            (MissingLength.into(), 400, "missing_upload_length", "send the file's size as Upload-Length (or Upload-Defer-Length: 1)"),
            (LengthAndDeferLength.into(), 400, "invalid_upload_length", "send Upload-Length or Upload-Defer-Length, not both"),
            (InvalidDeferLength.into(), 400, "invalid_upload_length", "Upload-Defer-Length must be 1"),
            (InvalidLength("ten".into()).into(), 400, "invalid_upload_length", "Upload-Length must be a number of bytes, not \"ten\""),
            (LengthAlreadyKnown(10).into(), 400, "invalid_upload_length", "the upload's length is already 10 bytes"),
            (LengthBelowOffset(7).into(), 400, "invalid_upload_length", "7 bytes have already arrived"),
            (MissingOffset.into(), 400, "missing_upload_offset", "send Upload-Offset"),
            (InvalidOffset("-1".into()).into(), 400, "invalid_upload_offset", "Upload-Offset must be a number of bytes, not \"-1\""),
            (InvalidConcat.into(), 400, "invalid_upload_concat", "Upload-Concat must be `partial` or `final;URL URL…`"),
            (NotAnUploadUrl(url()).into(), 400, "invalid_upload_concat", "\"/v1/uploads/x\" is not an upload URL of this server"),
            (NoPartials.into(), 400, "invalid_upload_concat", "a final upload must name at least one partial upload"),
            (NoSuchPartial(url()).into(), 400, "invalid_upload_concat", "there is no upload \"/v1/uploads/x\" of yours to concatenate"),
            (NotPartial(url()).into(), 400, "invalid_upload_concat", "\"/v1/uploads/x\" was not created as a partial upload"),
            (PartialUnfinished { url: url(), offset: 5, length: Some(10) }.into(), 400, "partial_upload_unfinished", "\"/v1/uploads/x\" has 5 of its 10 bytes: finish it before concatenating"),
            (PartialUnfinished { url: url(), offset: 5, length: None }.into(), 400, "partial_upload_unfinished", "\"/v1/uploads/x\" has 5 of its ? bytes: finish it before concatenating"),
            (InvalidMetadataPair("a b c".into()).into(), 400, "invalid_metadata", "Upload-Metadata pairs are `key base64value`; \"a b c\" is not"),
            (MetadataNotBase64("title".into()).into(), 400, "invalid_metadata", "the value of \"title\" in Upload-Metadata is not base64 text"),
            (InvalidChecksum.into(), 400, "invalid_checksum", "Upload-Checksum is `algorithm base64digest`"),
            (ChecksumNotBase64.into(), 400, "invalid_checksum", "the Upload-Checksum digest is not base64"),
            (UnsupportedChecksumAlgorithm("md5".into()).into(), 400, "unsupported_checksum_algorithm", "checksum algorithm \"md5\" is not supported; use sha1 or sha256"),
            (EmptyUpload.into(), 400, "empty_upload", "Upload-Length is 0: a video needs bytes"),
            (Interrupted { reason: "no bytes arrived for 30 s".into(), offset: 9 }.into(), 400, "upload_interrupted", "the upload was interrupted (no bytes arrived for 30 s); resume from offset 9"),
            (FinalTakesNoBytes.into(), 403, "forbidden", "a final upload is made of its partial uploads and takes no bytes of its own"),
            (UploadNotFound.into(), 404, "not_found", "upload not found"),
            (UploadFinished.into(), 409, "upload_finished", "this upload is finished; delete its video with DELETE /v1/videos/{id}"),
            (OffsetMismatch { sent: 3, current: 7 }.into(), 409, "offset_mismatch", "Upload-Offset is 3 but the upload has 7 bytes: resume from 7"),
            (TakenOver.into(), 409, "upload_busy", "another request took this upload over; resume from its offset"),
            (UploadExpired.into(), 410, "upload_expired", "this upload expired before it was finished; start a new one"),
            (ChecksummedBodyTooLarge { max: MAX_CHECKSUMMED_BODY }.into(), 413, "payload_too_large", "a PATCH with Upload-Checksum carries at most 64 MiB; send the file in smaller chunks"),
            (TooLarge { length: 10, max: 5 }.into(), 413, "payload_too_large", "the upload is 10 bytes, more than the limit of 5 bytes"),
            (BodyPastLength { limit: 10 }.into(), 413, "payload_too_large", "the body goes past the upload's length of 10 bytes"),
            (NotOffsetStream.into(), 415, "unsupported_media_type", "send the bytes with Content-Type: application/offset+octet-stream"),
            (NotVideoType("audio/mpeg".into()).into(), 415, "unsupported_media_type", "the file's type is audio/mpeg; upload a video (video/*)"),
            (Busy.into(), 423, "upload_busy", "another request is writing to this upload; retry in a few seconds"),
            (ChecksumMismatch.into(), 460, "checksum_mismatch", "the body does not match Upload-Checksum; nothing of it was kept"),
            (Internal(anyhow::anyhow!("disk on fire")).into(), 500, "internal", "internal server error"),
            (Db(sqlx::Error::PoolTimedOut).into(), 503, "busy", "the server is busy; retry in a moment"),
            // A step that combines a store write and a row update (anyhow) and lost its database
            // connection under it: a restart the client retries through, not a fault.
            (Internal(anyhow::Error::new(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())).context("recording the offset")).into(), 503, "unavailable", "the database cannot be reached for a moment; retry"),
        ])
        .await;
    }

    #[rustfmt::skip] // One line per case: the table reads as a table.
    #[tokio::test]
    async fn direct_upload_refusals_keep_their_statuses_codes_and_messages() {
        use DirectUploadError::*;
        check(vec![
            (NotFound.into(), 404, "not_found", "direct upload not found"),
            (Used.into(), 409, "direct_upload_used", "this upload URL has already been used for a video; ask for a new one"),
            (Expired.into(), 410, "direct_upload_expired", "this upload URL has expired; ask for a new one"),
            (InvalidExpiry.into(), 422, "invalid_expiry", "expires_in_seconds must be between 60 and 604800"),
            (InvalidMaxSize { limit: 100 }.into(), 422, "invalid_max_size", "max_size_bytes must be between 1 and 100"),
            (Title(TitleError::TooLong).into(), 422, "invalid_title", "title must be at most 200 characters"),
            (TusError::Direct(Used).into(), 409, "direct_upload_used", "this upload URL has already been used for a video; ask for a new one"),
        ])
        .await;
    }

    #[rustfmt::skip] // One line per case: the table reads as a table.
    #[tokio::test]
    async fn a_rejected_file_is_a_422_whose_code_says_why() {
        let rejected = |r: Rejection| ApiError::from(UploadError::Rejected(r));
        check(vec![
            (rejected(ProbeError::NotMedia("no demuxer".into()).into()), 422, "not_a_video", "the file is not a video we recognise (no demuxer)"),
            (rejected(ProbeError::NoVideo.into()), 422, "no_video_stream", "the file has no video stream (audio only)"),
            (rejected(ProbeError::TooSmall { width: 8, height: 8 }.into()), 422, "video_too_small", "the video is too small (8x8); it must be at least 16x16"),
            (rejected(ProbeError::Unsupported("prores".into()).into()), 422, "unsupported_codec", "unsupported video codec: prores (no decoder available)"),
            (rejected(ProbeError::Failed("boom".into()).into()), 422, "unreadable_video", "the file could not be read: boom"),
            (rejected(LimitError::TooLarge { width: 8000, height: 4000, limit: 4096 }.into()), 422, "video_too_large", "the video is 8000x4000; the longest side may be at most 4096 pixels"),
            (rejected(Rejection::DailyMinutes { limit_minutes: 60, used_minutes: 59 }), 422, "daily_minutes_limit", "this video would take you past 60 minutes of video in 24 hours (59 used)"),
            (TitleError::Nul.into(), 422, "invalid_text", "text must not contain NUL (U+0000) characters"),
            (TitleError::TooLong.into(), 422, "invalid_title", "title must be at most 200 characters"),
            (UploadError::Internal(anyhow::anyhow!("store down")).into(), 500, "internal", "internal server error"),
        ])
        .await;
    }

    #[rustfmt::skip] // One line per case: the table reads as a table.
    #[tokio::test]
    async fn a_spooled_body_refused_says_why() {
        check(vec![
            (SpoolError::TooLarge { limit: 10 }.into(), 413, "payload_too_large", "the upload is larger than the limit of 10 bytes"),
            (SpoolError::Empty.into(), 400, "empty_body", "the request body was empty: send the video's bytes"),
            (SpoolError::Interrupted("reset".into()).into(), 400, "upload_interrupted", "the upload was interrupted: reset"),
        ])
        .await;
    }

    #[rustfmt::skip] // One line per case: the table reads as a table.
    #[tokio::test]
    async fn quotas_answer_429_and_the_daily_limit_says_when_to_retry() {
        let cases = [
            (QuotaError::TooManyUnfinished { count: 3, max: 3 }, 429, "too_many_unfinished_uploads", "you have 3 unfinished uploads (the most is 3): finish or cancel one first", None),
            (QuotaError::UnfinishedBytes { max_bytes: 5 << 20 }, 429, "unfinished_bytes_quota", "your unfinished uploads would hold more than 5 MiB: finish or cancel one first", None),
            (QuotaError::DailyUploads { count: 20, wait_ms: 90_000 }, 429, "daily_upload_limit", "you uploaded 20 videos in the last 24 hours, the most allowed; the next one can start in 2 minutes", Some("90")),
            (QuotaError::InsufficientStorage, 507, "insufficient_storage", "the server is short of disk space; try again later", None),
        ];
        for (e, status, code, message, retry_after) in cases {
            let what = format!("{e:?}");
            let seen = seen(TusError::Quota(e).into()).await;
            assert_eq!(
                (seen.status, seen.code.as_str(), seen.message.as_str(), seen.retry_after.as_deref()),
                (status, code, message, retry_after),
                "{what}"
            );
        }
    }
}
