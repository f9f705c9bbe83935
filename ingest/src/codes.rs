//! The stable error codes ingest answers with (the `code` of `{"error": {"code", "message"}}`),
//! named once. Clients branch on them, so a code never changes once shipped; the mapping from
//! each error to its status and code is `http::error`.
//!
//! Codes owned by other crates are not repeated here: the media limits' (`video_too_long`, …)
//! are `vitrine_transcode::limits::LimitError::code`, `invalid_text` (a NUL character) and the
//! generic ones (`not_found`, `forbidden`, `payload_too_large`, …) are the API crate's.

// Why a file is not an acceptable video (422).
pub const NOT_A_VIDEO: &str = "not_a_video";
pub const NO_VIDEO_STREAM: &str = "no_video_stream";
pub const VIDEO_TOO_SMALL: &str = "video_too_small";
pub const UNSUPPORTED_CODEC: &str = "unsupported_codec";
pub const TRUNCATED_VIDEO: &str = "truncated_video";
pub const UNREADABLE_VIDEO: &str = "unreadable_video";
pub const DAILY_MINUTES_LIMIT: &str = "daily_minutes_limit";

// Quotas and the disk (429, 507).
pub const TOO_MANY_UNFINISHED_UPLOADS: &str = "too_many_unfinished_uploads";
pub const UNFINISHED_BYTES_QUOTA: &str = "unfinished_bytes_quota";
pub const DAILY_UPLOAD_LIMIT: &str = "daily_upload_limit";
pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";

// The one-request upload.
pub const INVALID_TITLE: &str = "invalid_title";
pub const EMPTY_BODY: &str = "empty_body";
pub const UPLOAD_INTERRUPTED: &str = "upload_interrupted";

// The tus protocol's headers (400, 412).
pub const MISSING_TUS_RESUMABLE: &str = "missing_tus_resumable";
pub const UNSUPPORTED_TUS_VERSION: &str = "unsupported_tus_version";
pub const INVALID_HEADER: &str = "invalid_header";
pub const MISSING_UPLOAD_LENGTH: &str = "missing_upload_length";
pub const INVALID_UPLOAD_LENGTH: &str = "invalid_upload_length";
pub const MISSING_UPLOAD_OFFSET: &str = "missing_upload_offset";
pub const INVALID_UPLOAD_OFFSET: &str = "invalid_upload_offset";
pub const INVALID_UPLOAD_CONCAT: &str = "invalid_upload_concat";
pub const INVALID_METADATA: &str = "invalid_metadata";
pub const INVALID_CHECKSUM: &str = "invalid_checksum";
pub const UNSUPPORTED_CHECKSUM_ALGORITHM: &str = "unsupported_checksum_algorithm";

// A resumable upload's state.
pub const EMPTY_UPLOAD: &str = "empty_upload";
pub const PARTIAL_UPLOAD_UNFINISHED: &str = "partial_upload_unfinished";
pub const OFFSET_MISMATCH: &str = "offset_mismatch";
pub const CHECKSUM_MISMATCH: &str = "checksum_mismatch";
pub const UPLOAD_BUSY: &str = "upload_busy";
pub const UPLOAD_EXPIRED: &str = "upload_expired";
pub const UPLOAD_FINISHED: &str = "upload_finished";

// Direct upload URLs.
pub const DIRECT_UPLOAD_USED: &str = "direct_upload_used";
pub const DIRECT_UPLOAD_EXPIRED: &str = "direct_upload_expired";
pub const INVALID_EXPIRY: &str = "invalid_expiry";
pub const INVALID_MAX_SIZE: &str = "invalid_max_size";
