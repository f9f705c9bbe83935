//! Resumable uploads: the tus 1.0.0 protocol at `/v1/uploads`, with the creation,
//! creation-with-upload, creation-defer-length, expiration, checksum, termination and
//! concatenation extensions; and one-time direct upload URLs for apps at `/v1/direct-uploads`.
//!
//! A PATCH body is spooled to local disk a piece at a time (8 MiB, or the whole PATCH when it
//! carries a checksum, which must be verified before any of it is kept), each piece appended to
//! the object store durably, and only then recorded as the new offset: the offset HEAD reports is
//! always safe to resume from, whatever crashed. The upload URL is the capability (an unguessable
//! id), as in tusd and Cloudflare Stream, so an app holding only a direct upload URL can resume.

use std::{collections::HashMap, time::Duration};

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{head, post},
    Json, Router,
};
use base64::Engine as _;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::ToSchema;
use vitrine_api::{
    extract::{media_type, request_media_type, Caller},
    ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, DirectUploadId, UploadId, VideoId},
    time::now_ms,
    videos::{self, NewVideo, VideoStatus},
};
use vitrine_identity::principal::Scope;

use crate::{
    finish::{self, staging_key, target_key},
    quota::QuotaError,
    upload::{self, TitleError},
    uploads::{self, Concat, DirectUpload, Upload, UploadState},
};

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
        MAX_CHECKSUMMED_BODY >> 20
    )]
    ChecksummedBodyTooLarge,
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

/// Why a direct upload URL cannot be made, or used.
#[derive(Debug, thiserror::Error)]
pub enum DirectUploadError {
    #[error("direct upload not found")]
    NotFound,
    #[error("this upload URL has already been used for a video; ask for a new one")]
    Used,
    #[error("this upload URL has expired; ask for a new one")]
    Expired,
    #[error("expires_in_seconds must be between {DIRECT_MIN_SECONDS} and {DIRECT_MAX_SECONDS}")]
    InvalidExpiry,
    #[error("max_size_bytes must be between 1 and {limit}")]
    InvalidMaxSize { limit: u64 },
    #[error(transparent)]
    Title(#[from] TitleError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,\
                          checksum,termination,concatenation";
const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// Bytes spooled, stored and acknowledged at a time when no checksum needs the whole PATCH.
const PIECE: u64 = 8 * 1024 * 1024;
/// Most a PATCH with `Upload-Checksum` may carry: its body is verified whole before any of it
/// is kept, so it is spooled whole; clients send larger files in several checksummed PATCHes.
pub const MAX_CHECKSUMMED_BODY: u64 = 64 * 1024 * 1024;
/// How long a writer's lease on an upload lasts without being renewed.
const LEASE_MS: i64 = 30_000;
/// A PATCH that sends nothing for this long is ended; what arrived is kept.
const IDLE: Duration = Duration::from_secs(30);
/// How long a request waits for another writer of the same upload (appending one piece) before
/// answering 423.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Direct upload URLs live between a minute and a week (default an hour), as Mux's do.
const DIRECT_MIN_SECONDS: u64 = 60;
const DIRECT_MAX_SECONDS: u64 = 7 * 24 * 3600;
const DIRECT_DEFAULT_SECONDS: u64 = 3600;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const VIDEO_ID: HeaderName = HeaderName::from_static("video-id");

pub fn router(state: &AppState) -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([
            Method::POST,
            Method::HEAD,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            TUS_RESUMABLE,
            UPLOAD_OFFSET,
            UPLOAD_LENGTH,
            UPLOAD_DEFER_LENGTH,
            UPLOAD_METADATA,
            UPLOAD_CONCAT,
            UPLOAD_CHECKSUM,
            HeaderName::from_static("x-http-method-override"),
            HeaderName::from_static("x-requested-with"),
        ])
        .expose_headers([
            header::LOCATION,
            TUS_RESUMABLE,
            HeaderName::from_static("tus-version"),
            HeaderName::from_static("tus-extension"),
            HeaderName::from_static("tus-max-size"),
            HeaderName::from_static("tus-checksum-algorithm"),
            UPLOAD_OFFSET,
            UPLOAD_LENGTH,
            UPLOAD_DEFER_LENGTH,
            UPLOAD_METADATA,
            UPLOAD_EXPIRES,
            UPLOAD_CONCAT,
            VIDEO_ID,
        ])
        .max_age(Duration::from_secs(86400));
    Router::new()
        // OPTIONS is answered by the CORS layer (with the tus discovery headers added by
        // `tus_headers`), but only for methods the route has: hence the explicit handlers.
        .route("/v1/uploads", post(create_upload).options(options))
        .route(
            "/v1/uploads/{id}",
            head(upload_status)
                .patch(append)
                .delete(terminate)
                .options(options),
        )
        .route(
            "/v1/direct-uploads/{id}",
            post(create_direct_upload_video).options(options),
        )
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            tus_headers,
        ))
}

/// Every tus response says which protocol it speaks; OPTIONS (answered by the CORS layer, which
/// takes every OPTIONS request) also lists what this server supports.
async fn tus_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_options = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    if is_options {
        headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        headers.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
        headers.insert(
            "tus-checksum-algorithm",
            HeaderValue::from_static(CHECKSUM_ALGORITHMS),
        );
        headers.insert(
            "tus-max-size",
            HeaderValue::from(state.limits.max_upload_bytes),
        );
    }
    response
}

async fn options() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Who an upload is created for, and within which limits.
struct Owner {
    creator: AccountId,
    max_size: u64,
    title: Option<String>,
    direct: Option<DirectUploadId>,
}

/// The headers of a tus creation request (documentation only: `create` reads them).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct CreationHeaders {
    /// The protocol version: 1.0.0 (412 without it, or with another).
    #[param(rename = "Tus-Resumable")]
    tus_resumable: String,
    /// The file's size in bytes (or send Upload-Defer-Length: 1 and give it later).
    #[param(rename = "Upload-Length")]
    upload_length: Option<u64>,
    /// 1: the length comes with a later PATCH.
    #[param(rename = "Upload-Defer-Length")]
    upload_defer_length: Option<String>,
    /// Comma-separated `key base64value`: title, filename, filetype.
    #[param(rename = "Upload-Metadata")]
    upload_metadata: Option<String>,
    /// `partial`, or `final;URL URL…` to join partial uploads.
    #[param(rename = "Upload-Concat")]
    upload_concat: Option<String>,
    /// `sha1|sha256 base64digest` of a body sent with the creation (at most 64 MiB).
    #[param(rename = "Upload-Checksum")]
    upload_checksum: Option<String>,
}

/// Create a resumable upload (tus 1.0.0 creation, with creation-with-upload, defer-length,
/// concatenation, checksum, expiration and termination) for the signed-in creator. The answer's
/// `Location` is the upload's URL, `Video-Id` the video it becomes; send the bytes with PATCH
/// there, from `Upload-Offset`, in as many requests as it takes.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads",
    params(CreationHeaders),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "optionally, the first bytes (creation-with-upload)"),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses(
        (status = 201, description = "created: Location, Upload-Offset, Upload-Expires, Video-Id"),
        (status = 400, body = vitrine_api::error::ErrorBody), (status = 401, body = vitrine_api::error::ErrorBody), (status = 403, body = vitrine_api::error::ErrorBody),
        (status = 404, body = vitrine_api::error::ErrorBody, description = "a partial upload to join is unknown"),
        (status = 409, body = vitrine_api::error::ErrorBody), (status = 412, body = vitrine_api::error::ErrorBody, description = "Tus-Resumable missing or not 1.0.0"),
        (status = 413, body = vitrine_api::error::ErrorBody), (status = 415, body = vitrine_api::error::ErrorBody), (status = 422, body = vitrine_api::error::ErrorBody),
        (status = 429, body = vitrine_api::error::ErrorBody, description = "too many unfinished uploads, or uploads today"),
        (status = 460, body = vitrine_api::error::ErrorBody, description = "checksum_mismatch"),
        (status = 507, body = vitrine_api::error::ErrorBody, description = "insufficient_storage"),
    ))]
pub async fn create_upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let creator = caller.allow(Scope::VideosWrite)?.creator()?;
    let owner = Owner {
        creator: creator.id.clone(),
        max_size: state.limits.max_upload_bytes,
        title: None,
        direct: None,
    };
    Ok(create(&state, owner, &headers, body).await?)
}

/// Create the one upload a direct upload URL allows (tus creation, as for `POST /v1/uploads`,
/// with no other credential: the URL is the capability).
#[utoipa::path(post, path = "/v1/direct-uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Direct upload id (dup_…)"), CreationHeaders),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "optionally, the first bytes (creation-with-upload)"),
    security(()),
    responses(
        (status = 201, description = "created: Location, Upload-Offset, Upload-Expires, Video-Id"),
        (status = 400, body = vitrine_api::error::ErrorBody), (status = 404, body = vitrine_api::error::ErrorBody),
        (status = 409, body = vitrine_api::error::ErrorBody, description = "direct_upload_used"),
        (status = 410, body = vitrine_api::error::ErrorBody, description = "direct_upload_expired"),
        (status = 412, body = vitrine_api::error::ErrorBody), (status = 413, body = vitrine_api::error::ErrorBody), (status = 415, body = vitrine_api::error::ErrorBody),
        (status = 422, body = vitrine_api::error::ErrorBody), (status = 429, body = vitrine_api::error::ErrorBody), (status = 460, body = vitrine_api::error::ErrorBody),
        (status = 507, body = vitrine_api::error::ErrorBody),
    ))]
pub async fn create_direct_upload_video(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let direct = usable_direct(&state, &id).await?;
    let owner = Owner {
        creator: direct.creator_id,
        max_size: direct.max_size.min(state.limits.max_upload_bytes),
        title: direct.title,
        direct: Some(direct.id),
    };
    Ok(create(&state, owner, &headers, body).await?)
}

/// The direct upload a URL names, if it can still create its upload.
async fn usable_direct(state: &AppState, id: &str) -> Result<DirectUpload, DirectUploadError> {
    let id = id
        .parse::<DirectUploadId>()
        .map_err(|_| DirectUploadError::NotFound)?;
    let direct = uploads::get_direct(&state.db, &id)
        .await?
        .ok_or(DirectUploadError::NotFound)?;
    check_direct_usable(&direct)?;
    Ok(direct)
}

fn check_direct_usable(direct: &DirectUpload) -> Result<(), DirectUploadError> {
    if direct.upload_id.is_some() {
        return Err(DirectUploadError::Used);
    }
    if direct.expires_at <= now_ms() {
        return Err(DirectUploadError::Expired);
    }
    Ok(())
}

async fn create(
    state: &AppState,
    owner: Owner,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, TusError> {
    check_version(headers)?;
    let concat = match header_str(headers, &UPLOAD_CONCAT)? {
        None => None,
        Some("partial") => Some(Concat::Partial),
        Some(value) => match value.strip_prefix("final;") {
            Some(parts) => Some(Concat::Final(parts.trim().to_owned())),
            None => return Err(TusError::InvalidConcat),
        },
    };
    let partials = match &concat {
        Some(Concat::Final(parts)) => Some(load_partials(state, &owner.creator, parts).await?),
        _ => None,
    };
    let length = match &partials {
        Some(partials) => Some(partials.iter().map(|p| p.offset).sum()),
        None => declared_length(headers)?,
    };
    if let Some(length) = length {
        if length > owner.max_size {
            return Err(TusError::TooLarge {
                length,
                max: owner.max_size,
            });
        }
        if length == 0 {
            return Err(TusError::EmptyUpload);
        }
    }
    if concat.is_none() || concat == Some(Concat::Partial) {
        // From here the upload's row counts it among the creator's unfinished ones.
        drop(crate::quota::check_new_upload(state, &owner.creator, length).await?);
    }
    // Everything that can refuse the request is checked before anything is written, so a
    // refused creation leaves no upload the client cannot name.
    let checksum = if is_offset_stream(headers) {
        parse_checksum(headers)?
    } else {
        None
    };
    let metadata = parse_metadata(header_str(headers, &UPLOAD_METADATA)?.unwrap_or(""))?;
    if let Some(filetype) = metadata.get("filetype").and_then(|t| t.as_deref()) {
        let essence = media_type(filetype);
        if !upload::is_video_type(&essence) {
            return Err(TusError::NotVideoType(essence));
        }
    }
    let title = match owner.title.clone() {
        Some(title) => title,
        None => upload::title(
            metadata
                .get("title")
                .and_then(|t| t.as_deref())
                .or_else(|| metadata.get("filename").and_then(|t| t.as_deref())),
        )?
        .unwrap_or_else(|| "Untitled".to_owned()),
    };

    let video_id = (concat != Some(Concat::Partial)).then(VideoId::generate);
    let mut upload = Upload {
        id: UploadId::generate_unguessable(),
        creator_id: owner.creator.clone(),
        video_id: video_id.clone(),
        length,
        offset: 0,
        metadata: header_str(headers, &UPLOAD_METADATA)?
            .unwrap_or("")
            .to_owned(),
        concat,
        storage: Default::default(),
        state: UploadState::Receiving,
        expires_at: expiry(state),
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
            // Spent or expired between the check and now: say which.
            drop(tx);
            let direct = uploads::get_direct(&state.db, direct)
                .await?
                .ok_or(DirectUploadError::NotFound)?;
            check_direct_usable(&direct)?;
            return Err(anyhow::anyhow!("direct upload {} could not be claimed", direct.id).into());
        }
    }
    tx.commit().await?;
    tracing::info!(upload = %upload.id, video = ?video_id, length = ?length, "upload created");

    let mut offset_header = false;
    if let Some(partials) = partials {
        concatenate(state, &mut upload, &partials).await?;
        offset_header = true;
    } else if is_offset_stream(headers) {
        // creation-with-upload: the body holds the first bytes.
        write_body(state, &mut upload, checksum, body).await?;
        offset_header = true;
    }
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header_value(&format!("{}/v1/uploads/{}", state.urls.public, upload.id))?,
    );
    describe(headers, &upload)?;
    if !offset_header {
        headers.remove(UPLOAD_OFFSET);
    }
    Ok(response)
}

/// The partial uploads a final upload names, complete and owned by the same creator.
async fn load_partials(
    state: &AppState,
    creator: &AccountId,
    parts: &str,
) -> Result<Vec<Upload>, TusError> {
    let mut partials = Vec::new();
    for url in parts.split_whitespace() {
        let id = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|id| id.parse::<UploadId>().ok())
            .ok_or_else(|| TusError::NotAnUploadUrl(url.to_owned()))?;
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
    if partials.is_empty() {
        return Err(TusError::NoPartials);
    }
    Ok(partials)
}

/// Builds the final upload from its partials' stored objects, in order, then admits it.
async fn concatenate(
    state: &AppState,
    upload: &mut Upload,
    partials: &[Upload],
) -> Result<(), TusError> {
    let owner = acquire(state, &upload.id).await?;
    let _renewed = KeepLeased::start(state, &upload.id, &owner);
    let scratch = &state.limits.spool_dir;
    let result: anyhow::Result<()> = async {
        tokio::fs::create_dir_all(scratch).await?;
        for partial in partials {
            let piece = finish::LocalCopy::of(&state.store, &target_key(partial), scratch).await?;
            state
                .store
                .append_file(
                    &target_key(upload),
                    &staging_key(upload),
                    &mut upload.storage,
                    piece.path(),
                    scratch,
                )
                .await?;
            upload.offset = upload.storage.stored;
            anyhow::ensure!(
                uploads::record_progress(&state.db, upload, &owner, LEASE_MS).await?,
                "lost the lease on {} while concatenating",
                upload.id
            );
        }
        finish::complete(state, upload).await?;
        finish::admit(state, upload).await
    }
    .await;
    let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
    result?;
    Ok(())
}

/// Upload-Length, or none with `Upload-Defer-Length: 1`.
fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, TusError> {
    match (
        header_str(headers, &UPLOAD_LENGTH)?,
        header_str(headers, &UPLOAD_DEFER_LENGTH)?,
    ) {
        (Some(length), None) => parse_length(length).map(Some),
        (None, Some("1")) => Ok(None),
        (Some(_), Some(_)) => Err(TusError::LengthAndDeferLength),
        (None, Some(_)) => Err(TusError::InvalidDeferLength),
        (None, None) => Err(TusError::MissingLength),
    }
}

fn parse_length(value: &str) -> Result<u64, TusError> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| TusError::InvalidLength(value.to_owned()))
}

/// An upload's state, for resuming (tus HEAD): `Upload-Offset` (bytes stored so far),
/// `Upload-Length`, `Upload-Metadata`, `Upload-Expires`. The URL is the capability.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id (upl_…), from Location"), ("Tus-Resumable" = String, Header, description = "the protocol version: 1.0.0 (412 without it, or with another)")),
    security(()),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length (or Upload-Defer-Length), Upload-Metadata"),
        (status = 404, body = vitrine_api::error::ErrorBody), (status = 410, body = vitrine_api::error::ErrorBody, description = "expired unfinished"),
        (status = 412, body = vitrine_api::error::ErrorBody),
    ))]
pub async fn upload_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_version(&headers)?;
    let upload = find(&state, &id).await?;
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    describe(out, &upload)?;
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(length) = upload.length {
        out.insert(UPLOAD_LENGTH, HeaderValue::from(length));
    } else {
        out.insert(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1"));
    }
    if !upload.metadata.is_empty() {
        out.insert(UPLOAD_METADATA, header_value(&upload.metadata)?);
    }
    if let Some(concat) = &upload.concat {
        out.insert(UPLOAD_CONCAT, header_value(&concat.to_string())?);
    }
    Ok(response)
}

/// Append bytes at the current offset (tus PATCH): `Content-Type:
/// application/offset+octet-stream`, `Upload-Offset` equal to the stored offset. The answer's
/// `Upload-Offset` is the new one; a request cut off keeps what was stored before the cut.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads",
    params(
        ("id" = String, Path, description = "Upload id (upl_…), from Location"), ("Tus-Resumable" = String, Header, description = "the protocol version: 1.0.0 (412 without it, or with another)"),
        ("Upload-Offset" = u64, Header, description = "where these bytes start: the offset HEAD reports"),
        ("Upload-Length" = Option<u64>, Header, description = "the length, if it was deferred"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256 base64digest` of this body (at most 64 MiB)"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    security(()),
    responses(
        (status = 204, description = "stored: Upload-Offset"),
        (status = 400, body = vitrine_api::error::ErrorBody), (status = 404, body = vitrine_api::error::ErrorBody),
        (status = 409, body = vitrine_api::error::ErrorBody, description = "the offset is not the stored one"),
        (status = 410, body = vitrine_api::error::ErrorBody), (status = 412, body = vitrine_api::error::ErrorBody), (status = 413, body = vitrine_api::error::ErrorBody),
        (status = 415, body = vitrine_api::error::ErrorBody), (status = 422, body = vitrine_api::error::ErrorBody),
        (status = 423, body = vitrine_api::error::ErrorBody, description = "upload_busy: another request is writing"),
        (status = 460, body = vitrine_api::error::ErrorBody, description = "checksum_mismatch: nothing of the body kept"),
        (status = 507, body = vitrine_api::error::ErrorBody),
    ))]
pub async fn append(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (mut upload, checksum) = match check_append(&state, &id, &headers).await {
        Ok(checked) => checked,
        Err(e) => {
            drain(body).await;
            return Err(e.into());
        }
    };
    write_body(&state, &mut upload, checksum, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    describe(response.headers_mut(), &upload)?;
    Ok(response)
}

/// Most of a refused PATCH's body read and thrown away, and for how long.
const DRAIN_LIMIT: usize = 32 << 20;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a refused request's body (up to a limit) before the error goes out: a server that
/// answers while the client is still sending closes the connection with bytes unread, and the
/// reset can reach the client before the answer does (it then sees a broken connection instead
/// of, say, 409 offset_mismatch, and cannot resume properly).
async fn drain(body: Body) {
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

/// Checks a PATCH's headers against the upload; the upload (with its length if this PATCH
/// declares it) and the checksum to verify.
async fn check_append(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
) -> Result<(Upload, Option<Checksum>), TusError> {
    check_version(headers)?;
    if !is_offset_stream(headers) {
        return Err(TusError::NotOffsetStream);
    }
    let mut upload = find(state, id).await?;
    if matches!(upload.concat, Some(Concat::Final(_))) {
        return Err(TusError::FinalTakesNoBytes);
    }
    let offset = header_str(headers, &UPLOAD_OFFSET)?.ok_or(TusError::MissingOffset)?;
    let offset = offset
        .trim()
        .parse::<u64>()
        .map_err(|_| TusError::InvalidOffset(offset.to_owned()))?;
    if offset != upload.offset {
        return Err(TusError::OffsetMismatch {
            sent: offset,
            current: upload.offset,
        });
    }
    if let Some(length) = header_str(headers, &UPLOAD_LENGTH)? {
        let length = parse_length(length)?;
        match upload.length {
            Some(known) if known != length => return Err(TusError::LengthAlreadyKnown(known)),
            Some(_) => {}
            None => {
                let max = max_size_for(state, &upload).await?;
                if length > max {
                    return Err(TusError::TooLarge { length, max });
                }
                if length == 0 {
                    return Err(TusError::EmptyUpload);
                }
                if length < upload.offset {
                    return Err(TusError::LengthBelowOffset(upload.offset));
                }
                upload.length = Some(length);
            }
        }
    }
    let checksum = parse_checksum(headers)?;
    Ok((upload, checksum))
}

/// Throw away an unfinished upload (tus termination): its bytes, and its video. 409 if it
/// finished meanwhile (its clip stays: delete it with `DELETE /v1/videos/{id}`).
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id (upl_…), from Location"), ("Tus-Resumable" = String, Header, description = "the protocol version: 1.0.0 (412 without it, or with another)")),
    security(()),
    responses(
        (status = 204), (status = 404, body = vitrine_api::error::ErrorBody), (status = 409, body = vitrine_api::error::ErrorBody),
        (status = 410, body = vitrine_api::error::ErrorBody), (status = 412, body = vitrine_api::error::ErrorBody), (status = 423, body = vitrine_api::error::ErrorBody),
    ))]
pub async fn terminate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    check_version(&headers)?;
    let upload = find(&state, &id).await?;
    if upload.state != UploadState::Receiving && upload.concat != Some(Concat::Partial) {
        return Err(TusError::UploadFinished.into());
    }
    let owner = acquire(&state, &upload.id).await?;
    // Read again under the lease: a last PATCH may have finished the upload (and queued its
    // clip) while this request waited for it. Then the clip stays, and the answer says so.
    let upload = match uploads::get(&state.db, &upload.id).await {
        Ok(Some(u)) if u.state == UploadState::Receiving || u.concat == Some(Concat::Partial) => u,
        other => {
            let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
            return Err(match other {
                Ok(Some(_)) => TusError::UploadFinished,
                Ok(None) => TusError::UploadNotFound,
                Err(e) => TusError::Internal(e),
            }
            .into());
        }
    };
    let removed = discard(&state, &upload).await;
    if removed.is_err() {
        let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
    }
    removed?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an unfinished upload's bytes, its video (still uploading) and its row.
pub async fn discard(state: &AppState, upload: &Upload) -> anyhow::Result<()> {
    state
        .store
        .abort_resumable(&target_key(upload), &staging_key(upload), &upload.storage)
        .await?;
    if upload.concat == Some(Concat::Partial) {
        state.store.delete(&target_key(upload)).await?;
    }
    if let Some(video) = &upload.video_id {
        if let Some(v) = videos::get(&state.db, video).await? {
            if v.status == VideoStatus::Uploading {
                videos::delete(&state.db, video).await?;
            }
        }
    }
    uploads::delete(&state.db, &upload.id).await?;
    tracing::info!(upload = %upload.id, "upload discarded");
    Ok(())
}

/// The upload named in a URL: 404 if there is none, 410 if it expired unfinished.
async fn find(state: &AppState, id: &str) -> Result<Upload, TusError> {
    let id = id
        .parse::<UploadId>()
        .map_err(|_| TusError::UploadNotFound)?;
    let upload = uploads::get(&state.db, &id)
        .await?
        .ok_or(TusError::UploadNotFound)?;
    if upload.state == UploadState::Receiving && upload.expires_at <= now_ms() {
        return Err(TusError::UploadExpired);
    }
    Ok(upload)
}

/// The size limit that applies to an upload (a direct upload's may be lower than the server's).
async fn max_size_for(state: &AppState, upload: &Upload) -> Result<u64, TusError> {
    let server = state.limits.max_upload_bytes;
    Ok(uploads::direct_limit_for(&state.db, &upload.id)
        .await?
        .map_or(server, |direct| direct.min(server)))
}

/// Renews a held write lease in the background until dropped: appending one piece (a whole
/// checksummed PATCH, or a whole partial upload when concatenating) can outlast the lease.
struct KeepLeased(tokio::task::JoinHandle<()>);

impl KeepLeased {
    fn start(state: &AppState, id: &UploadId, owner: &str) -> KeepLeased {
        let (db, id, owner) = (state.db.clone(), id.clone(), owner.to_owned());
        KeepLeased(tokio::spawn(async move {
            let every = Duration::from_millis(u64::try_from(LEASE_MS / 3).unwrap_or(10_000));
            loop {
                tokio::time::sleep(every).await;
                // Only extends a lease still held: never takes one back after its release.
                if !matches!(uploads::renew(&db, &id, &owner, LEASE_MS).await, Ok(true)) {
                    return;
                }
            }
        }))
    }
}

impl Drop for KeepLeased {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes the write lease on an upload, waiting for a writer that is appending a piece.
async fn acquire(state: &AppState, id: &UploadId) -> Result<String, TusError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        if uploads::lock(&state.db, id, &owner, LEASE_MS).await? {
            return Ok(owner);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TusError::Busy);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a PATCH (or creation-with-upload) body into the upload, piece by piece, each piece
/// stored durably before it is recorded. With a checksum the whole body is one piece, verified
/// before it is stored. Finishes the upload when its last byte arrives.
///
/// The write lease is held only while a spooled piece is appended and recorded, not while bytes
/// trickle in: a request that dies (or a server killed) while receiving leaves no lease behind,
/// and the client can resume at once. Two requests racing on one upload are told apart at the
/// append: the piece must start at the recorded offset, or the request gets 409.
async fn write_body(
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
        None => max_size_for(state, upload).await?,
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
                return Err(TusError::ChecksummedBodyTooLarge);
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
        let owner = acquire(state, &upload.id).await?;
        let _renewed = KeepLeased::start(state, &upload.id, &owner);
        let finished = async {
            finish::complete(state, upload).await?;
            finish::admit(state, upload).await
        }
        .await;
        let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
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
    piece: &std::path::Path,
    scratch: &std::path::Path,
) -> Result<(), TusError> {
    let owner = acquire(state, &upload.id).await?;
    let _renewed = KeepLeased::start(state, &upload.id, &owner);
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
        state
            .store
            .append_file(
                &target_key(upload),
                &staging_key(upload),
                &mut upload.storage,
                piece,
                scratch,
            )
            .await
            .map_err(anyhow::Error::new)?;
        upload.offset = upload.storage.stored;
        upload.expires_at = expiry(state);
        if !uploads::record_progress(&state.db, upload, &owner, LEASE_MS).await? {
            return Err(TusError::TakenOver);
        }
        Ok(())
    }
    .await;
    let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
    result
}

/// Headers every upload response carries: offset, expiry, video id.
fn describe(headers: &mut HeaderMap, upload: &Upload) -> anyhow::Result<()> {
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    if upload.state == UploadState::Receiving {
        let expires = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(upload.expires_at).unwrap_or(0));
        headers.insert(
            UPLOAD_EXPIRES,
            header_value(&httpdate::fmt_http_date(expires))?,
        );
    }
    if let Some(video) = &upload.video_id {
        headers.insert(VIDEO_ID, header_value(video.as_str())?);
    }
    Ok(())
}

fn expiry(state: &AppState) -> i64 {
    now_ms() + i64::try_from(state.limits.upload_expiry.as_millis()).unwrap_or(i64::MAX / 2)
}

fn check_version(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(&TUS_RESUMABLE).map(HeaderValue::as_bytes) {
        Some(b"1.0.0") => Ok(()),
        Some(_) => Err(TusError::UnsupportedVersion),
        None => Err(TusError::MissingVersion),
    }
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    request_media_type(headers).is_some_and(|t| t == "application/offset+octet-stream")
}

fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, TusError> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| TusError::NotText(name.clone())))
        .transpose()
}

fn header_value(value: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|e| anyhow::Error::new(e).context("building a header"))
}

/// `key base64,key2 base64,key3` → keys with their decoded values (a key may have none).
fn parse_metadata(header: &str) -> Result<HashMap<String, Option<String>>, TusError> {
    let mut metadata = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or("");
        let value = parts.next();
        if key.is_empty() || parts.next().is_some() {
            return Err(TusError::InvalidMetadataPair(pair.to_owned()));
        }
        let value = value
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| TusError::MetadataNotBase64(key.to_owned()))
            })
            .transpose()?;
        metadata.insert(key.to_owned(), value);
    }
    Ok(metadata)
}

/// An `Upload-Checksum` being verified over a body.
enum Checksum {
    Sha1(Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl Checksum {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Checksum::Sha1(hasher, _) => hasher.update(bytes),
            Checksum::Sha256(hasher, _) => hasher.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(hasher, expected) => hasher.finalize().as_slice() == expected,
            Checksum::Sha256(hasher, expected) => hasher.finalize().as_slice() == expected,
        }
    }
}

fn parse_checksum(headers: &HeaderMap) -> Result<Option<Checksum>, TusError> {
    let Some(value) = header_str(headers, &UPLOAD_CHECKSUM)? else {
        return Ok(None);
    };
    // Refused before a byte is read when the length is announced (`write_body` stops a body
    // without one at the same bound).
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > MAX_CHECKSUMMED_BODY) {
        return Err(TusError::ChecksummedBodyTooLarge);
    }
    let (algorithm, digest) = value
        .trim()
        .split_once(' ')
        .ok_or(TusError::InvalidChecksum)?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| TusError::ChecksumNotBase64)?;
    match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => Ok(Some(Checksum::Sha1(Sha1::new(), digest))),
        "sha256" => Ok(Some(Checksum::Sha256(Sha256::new(), digest))),
        other => Err(TusError::UnsupportedChecksumAlgorithm(other.to_owned())),
    }
}

/// Ask for a one-time upload URL.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDirectUpload {
    /// Title of the video it creates (default: the file's name from the upload's metadata).
    pub title: Option<String>,
    /// Largest file it accepts, in bytes (default and maximum: the server's limit).
    pub max_size_bytes: Option<u64>,
    /// Seconds it stays usable: 60 to 604800 (7 days); default 3600.
    pub expires_in_seconds: Option<u64>,
}

/// A one-time upload URL: a tus creation endpoint that needs no other credential.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectUploadView {
    pub id: String,
    /// POST a tus creation request here (any tus client's `endpoint`).
    pub upload_url: String,
    /// When it stops working, Unix seconds.
    pub expires_at: i64,
    pub max_size_bytes: u64,
}

/// Create a one-time upload URL for an app (creators only). It can create exactly one video.
#[utoipa::path(post, path = "/v1/direct-uploads", tag = "uploads",
    request_body = NewDirectUpload,
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses(
        (status = 201, body = DirectUploadView),
        (status = 401, body = vitrine_api::error::ErrorBody),
        (status = 403, body = vitrine_api::error::ErrorBody),
        (status = 422, body = vitrine_api::error::ErrorBody),
    ))]
pub async fn create_direct_upload(
    State(state): State<AppState>,
    caller: Caller,
    vitrine_api::extract::ApiJson(request): vitrine_api::extract::ApiJson<NewDirectUpload>,
) -> ApiResult<(StatusCode, Json<DirectUploadView>)> {
    let creator = caller.allow(Scope::VideosWrite)?.creator()?;
    let direct = new_direct(&state, &creator.id, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(DirectUploadView {
            upload_url: format!("{}/v1/direct-uploads/{}", state.urls.public, direct.id),
            id: direct.id.to_string(),
            expires_at: direct.expires_at / 1000,
            max_size_bytes: direct.max_size,
        }),
    ))
}

/// Makes the direct upload a creator asked for, within the server's limits.
async fn new_direct(
    state: &AppState,
    creator: &AccountId,
    request: NewDirectUpload,
) -> Result<DirectUpload, DirectUploadError> {
    let seconds = request.expires_in_seconds.unwrap_or(DIRECT_DEFAULT_SECONDS);
    if !(DIRECT_MIN_SECONDS..=DIRECT_MAX_SECONDS).contains(&seconds) {
        return Err(DirectUploadError::InvalidExpiry);
    }
    let limit = state.limits.max_upload_bytes;
    let max_size = request.max_size_bytes.unwrap_or(limit);
    if max_size == 0 || max_size > limit {
        return Err(DirectUploadError::InvalidMaxSize { limit });
    }
    let title = upload::title(request.title.as_deref())?;
    let direct = DirectUpload {
        id: DirectUploadId::generate_unguessable(),
        creator_id: creator.clone(),
        title,
        max_size,
        expires_at: now_ms() + i64::try_from(seconds * 1000).unwrap_or(i64::MAX / 2),
        upload_id: None,
    };
    uploads::insert_direct(&state.db, &direct).await?;
    Ok(direct)
}
