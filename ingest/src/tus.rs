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
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, DirectUploadId, UploadId, VideoId},
    time::now_ms,
    videos::{self, NewVideo, VideoStatus},
};
use vitrine_identity::principal::Scope;

use crate::{
    finish::{self, staging_key, target_key},
    upload,
    uploads::{self, Concat, DirectUpload, Upload, UploadState},
};

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
    create(&state, owner, &headers, body).await
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
    let direct = id
        .parse::<DirectUploadId>()
        .map_err(|_| ApiError::NotFound("direct upload"))?;
    let direct = uploads::get_direct(&state.db, &direct)
        .await?
        .ok_or(ApiError::NotFound("direct upload"))?;
    check_direct_usable(&direct)?;
    let owner = Owner {
        creator: direct.creator_id,
        max_size: direct.max_size.min(state.limits.max_upload_bytes),
        title: direct.title,
        direct: Some(direct.id),
    };
    create(&state, owner, &headers, body).await
}

fn check_direct_usable(direct: &DirectUpload) -> Result<(), ApiError> {
    if direct.upload_id.is_some() {
        return Err(ApiError::Conflict {
            code: "direct_upload_used",
            message: "this upload URL has already been used for a video; ask for a new one".into(),
        });
    }
    if direct.expires_at <= now_ms() {
        return Err(ApiError::status(
            StatusCode::GONE,
            "direct_upload_expired",
            "this upload URL has expired; ask for a new one",
        ));
    }
    Ok(())
}

async fn create(
    state: &AppState,
    owner: Owner,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(headers)?;
    let concat = match header_str(headers, &UPLOAD_CONCAT)? {
        None => None,
        Some("partial") => Some(Concat::Partial),
        Some(value) => match value.strip_prefix("final;") {
            Some(parts) => Some(Concat::Final(parts.trim().to_owned())),
            None => {
                return Err(ApiError::bad_request(
                    "invalid_upload_concat",
                    "Upload-Concat must be `partial` or `final;URL URL…`",
                ))
            }
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
            return Err(ApiError::PayloadTooLarge(format!(
                "the upload is {length} bytes, more than the limit of {} bytes",
                owner.max_size
            )));
        }
        if length == 0 {
            return Err(ApiError::bad_request(
                "empty_upload",
                "Upload-Length is 0: a video needs bytes",
            ));
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
            return Err(ApiError::UnsupportedMediaType(format!(
                "the file's type is {essence}; upload a video (video/*)"
            )));
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
                .ok_or(ApiError::NotFound("direct upload"))?;
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
) -> ApiResult<Vec<Upload>> {
    let mut partials = Vec::new();
    for url in parts.split_whitespace() {
        let id = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|id| id.parse::<UploadId>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_upload_concat",
                    format!("{url:?} is not an upload URL of this server"),
                )
            })?;
        let partial = uploads::get(&state.db, &id)
            .await?
            .filter(|p| &p.creator_id == creator)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_upload_concat",
                    format!("there is no upload {url:?} of yours to concatenate"),
                )
            })?;
        if partial.concat != Some(Concat::Partial) {
            return Err(ApiError::bad_request(
                "invalid_upload_concat",
                format!("{url:?} was not created as a partial upload"),
            ));
        }
        if partial.state == UploadState::Receiving {
            return Err(ApiError::bad_request(
                "partial_upload_unfinished",
                format!(
                    "{url:?} has {} of its {} bytes: finish it before concatenating",
                    partial.offset,
                    partial.length.map_or("?".to_owned(), |l| l.to_string())
                ),
            ));
        }
        partials.push(partial);
    }
    if partials.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_upload_concat",
            "a final upload must name at least one partial upload",
        ));
    }
    Ok(partials)
}

/// Builds the final upload from its partials' stored objects, in order, then admits it.
async fn concatenate(state: &AppState, upload: &mut Upload, partials: &[Upload]) -> ApiResult<()> {
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
fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match (
        header_str(headers, &UPLOAD_LENGTH)?,
        header_str(headers, &UPLOAD_DEFER_LENGTH)?,
    ) {
        (Some(length), None) => parse_length(length).map(Some),
        (None, Some("1")) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_upload_length",
            "send Upload-Length or Upload-Defer-Length, not both",
        )),
        (None, Some(_)) => Err(ApiError::bad_request(
            "invalid_upload_length",
            "Upload-Defer-Length must be 1",
        )),
        (None, None) => Err(ApiError::bad_request(
            "missing_upload_length",
            "send the file's size as Upload-Length (or Upload-Defer-Length: 1)",
        )),
    }
}

fn parse_length(value: &str) -> Result<u64, ApiError> {
    value.trim().parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_upload_length",
            format!("Upload-Length must be a number of bytes, not {value:?}"),
        )
    })
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
            return Err(e);
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
) -> ApiResult<(Upload, Option<Checksum>)> {
    check_version(headers)?;
    if !is_offset_stream(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send the bytes with Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let mut upload = find(state, id).await?;
    if matches!(upload.concat, Some(Concat::Final(_))) {
        return Err(ApiError::forbidden(
            "a final upload is made of its partial uploads and takes no bytes of its own",
        ));
    }
    let offset = header_str(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| ApiError::bad_request("missing_upload_offset", "send Upload-Offset"))?;
    let offset = offset.trim().parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_upload_offset",
            format!("Upload-Offset must be a number of bytes, not {offset:?}"),
        )
    })?;
    if offset != upload.offset {
        return Err(offset_mismatch(offset, upload.offset));
    }
    if let Some(length) = header_str(headers, &UPLOAD_LENGTH)? {
        let length = parse_length(length)?;
        match upload.length {
            Some(known) if known != length => {
                return Err(ApiError::bad_request(
                    "invalid_upload_length",
                    format!("the upload's length is already {known} bytes"),
                ))
            }
            Some(_) => {}
            None => {
                let max = max_size_for(state, &upload).await?;
                if length > max {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "the upload is {length} bytes, more than the limit of {max} bytes"
                    )));
                }
                if length == 0 {
                    return Err(ApiError::bad_request(
                        "empty_upload",
                        "Upload-Length is 0: a video needs bytes",
                    ));
                }
                if length < upload.offset {
                    return Err(ApiError::bad_request(
                        "invalid_upload_length",
                        format!("{} bytes have already arrived", upload.offset),
                    ));
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
    let finished = || ApiError::Conflict {
        code: "upload_finished",
        message: "this upload is finished; delete its video with DELETE /v1/videos/{id}".into(),
    };
    let upload = find(&state, &id).await?;
    if upload.state != UploadState::Receiving && upload.concat != Some(Concat::Partial) {
        return Err(finished());
    }
    let owner = acquire(&state, &upload.id).await?;
    // Read again under the lease: a last PATCH may have finished the upload (and queued its
    // clip) while this request waited for it. Then the clip stays, and the answer says so.
    let upload = match uploads::get(&state.db, &upload.id).await {
        Ok(Some(u)) if u.state == UploadState::Receiving || u.concat == Some(Concat::Partial) => u,
        other => {
            let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
            return match other {
                Ok(Some(_)) => Err(finished()),
                Ok(None) => Err(ApiError::NotFound("upload")),
                Err(e) => Err(e.into()),
            };
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

fn checksummed_too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "a PATCH with Upload-Checksum carries at most {} MiB; send the file in smaller chunks",
        MAX_CHECKSUMMED_BODY >> 20
    ))
}

/// The upload named in a URL: 404 if there is none, 410 if it expired unfinished.
async fn find(state: &AppState, id: &str) -> ApiResult<Upload> {
    let id = id
        .parse::<UploadId>()
        .map_err(|_| ApiError::NotFound("upload"))?;
    let upload = uploads::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("upload"))?;
    if upload.state == UploadState::Receiving && upload.expires_at <= now_ms() {
        return Err(ApiError::status(
            StatusCode::GONE,
            "upload_expired",
            "this upload expired before it was finished; start a new one",
        ));
    }
    Ok(upload)
}

/// The size limit that applies to an upload (a direct upload's may be lower than the server's).
async fn max_size_for(state: &AppState, upload: &Upload) -> ApiResult<u64> {
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
async fn acquire(state: &AppState, id: &UploadId) -> ApiResult<String> {
    let owner = uuid::Uuid::new_v4().to_string();
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        if uploads::lock(&state.db, id, &owner, LEASE_MS).await? {
            return Ok(owner);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::status(
                StatusCode::LOCKED,
                "upload_busy",
                "another request is writing to this upload; retry in a few seconds",
            ));
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
) -> ApiResult<()> {
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
                return Err(checksummed_too_large());
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
            return Err(ApiError::PayloadTooLarge(format!(
                "the body goes past the upload's length of {} bytes",
                total
            )));
        }
        if let Some(sum) = checksum.take() {
            if interrupted.is_some() {
                // A checksum covers the whole PATCH: a part of it cannot be verified, so none
                // of it is kept.
                break;
            }
            if !sum.matches() {
                return Err(ApiError::status(
                    StatusCode::from_u16(460).expect("valid status"),
                    "checksum_mismatch",
                    "the body does not match Upload-Checksum; nothing of it was kept",
                ));
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
        return Err(ApiError::bad_request(
            "upload_interrupted",
            format!(
                "the upload was interrupted ({reason}); resume from offset {}",
                upload.offset
            ),
        ));
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
) -> ApiResult<()> {
    let owner = acquire(state, &upload.id).await?;
    let _renewed = KeepLeased::start(state, &upload.id, &owner);
    let result = async {
        let current = uploads::get(&state.db, &upload.id)
            .await?
            .ok_or(ApiError::NotFound("upload"))?;
        if current.offset != upload.offset {
            // Another request appended meanwhile: this piece no longer starts at the end.
            return Err(offset_mismatch(upload.offset, current.offset));
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
            return Err(ApiError::Conflict {
                code: "upload_busy",
                message: "another request took this upload over; resume from its offset".into(),
            });
        }
        Ok(())
    }
    .await;
    let _ = uploads::unlock(&state.db, &upload.id, &owner).await;
    result
}

fn offset_mismatch(sent: u64, current: u64) -> ApiError {
    ApiError::Conflict {
        code: "offset_mismatch",
        message: format!(
            "Upload-Offset is {sent} but the upload has {current} bytes: resume from {current}"
        ),
    }
}

/// Headers every upload response carries: offset, expiry, video id.
fn describe(headers: &mut HeaderMap, upload: &Upload) -> ApiResult<()> {
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

fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(&TUS_RESUMABLE).map(HeaderValue::as_bytes) {
        Some(b"1.0.0") => Ok(()),
        Some(_) => Err(ApiError::status(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_tus_version",
            "this server speaks tus 1.0.0 (Tus-Resumable: 1.0.0)",
        )),
        None => Err(ApiError::status(
            StatusCode::PRECONDITION_FAILED,
            "missing_tus_resumable",
            "send Tus-Resumable: 1.0.0 with every tus request",
        )),
    }
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    request_media_type(headers).is_some_and(|t| t == "application/offset+octet-stream")
}

fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::bad_request("invalid_header", format!("{name} is not valid text"))
            })
        })
        .transpose()
}

fn header_value(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("building a header")))
}

/// `key base64,key2 base64,key3` → keys with their decoded values (a key may have none).
fn parse_metadata(header: &str) -> Result<HashMap<String, Option<String>>, ApiError> {
    let mut metadata = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or("");
        let value = parts.next();
        if key.is_empty() || parts.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_metadata",
                format!("Upload-Metadata pairs are `key base64value`; {pair:?} is not"),
            ));
        }
        let value = value
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_metadata",
                            format!("the value of {key:?} in Upload-Metadata is not base64 text"),
                        )
                    })
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

fn parse_checksum(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
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
        return Err(checksummed_too_large());
    }
    let (algorithm, digest) = value.trim().split_once(' ').ok_or_else(|| {
        ApiError::bad_request(
            "invalid_checksum",
            "Upload-Checksum is `algorithm base64digest`",
        )
    })?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_checksum",
                "the Upload-Checksum digest is not base64",
            )
        })?;
    match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => Ok(Some(Checksum::Sha1(Sha1::new(), digest))),
        "sha256" => Ok(Some(Checksum::Sha256(Sha256::new(), digest))),
        other => Err(ApiError::bad_request(
            "unsupported_checksum_algorithm",
            format!("checksum algorithm {other:?} is not supported; use sha1 or sha256"),
        )),
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
    let seconds = request.expires_in_seconds.unwrap_or(DIRECT_DEFAULT_SECONDS);
    if !(DIRECT_MIN_SECONDS..=DIRECT_MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid(
            "invalid_expiry",
            format!(
                "expires_in_seconds must be between {DIRECT_MIN_SECONDS} and {DIRECT_MAX_SECONDS}"
            ),
        ));
    }
    let limit = state.limits.max_upload_bytes;
    let max_size = request.max_size_bytes.unwrap_or(limit);
    if max_size == 0 || max_size > limit {
        return Err(ApiError::invalid(
            "invalid_max_size",
            format!("max_size_bytes must be between 1 and {limit}"),
        ));
    }
    let title = upload::title(request.title.as_deref())?;
    let direct = DirectUpload {
        id: DirectUploadId::generate_unguessable(),
        creator_id: creator.id.clone(),
        title,
        max_size,
        expires_at: now_ms() + i64::try_from(seconds * 1000).unwrap_or(i64::MAX / 2),
        upload_id: None,
    };
    uploads::insert_direct(&state.db, &direct).await?;
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
