//! Resumable uploads: the tus 1.0.0 protocol at `/v1/uploads`, with the creation,
//! creation-with-upload, creation-defer-length, expiration, checksum, termination and
//! concatenation extensions; and one-time direct upload URLs for apps at `/v1/direct-uploads`.
//!
//! This module is the protocol's HTTP edge: its routes, CORS and discovery headers, and thin
//! handlers that read the request, call the module that does the work and describe the upload
//! in the answer's headers. The upload URL is the capability (an unguessable id), as in tusd
//! and Cloudflare Stream, so an app holding only a direct upload URL can resume.
//!
//! - `headers`: the tus request headers, parsed (pure, table-tested);
//! - `create`: creating an upload, or joining partial ones;
//! - `body`: a request's bytes into the store, piece by piece, and the end of the upload;
//! - `lease`: the write lease that keeps two writers of one upload apart;
//! - `lifecycle`: finding an upload by its URL, its limits, termination and removal;
//! - `direct`: one-time direct upload URLs;
//! - `error`: why a request is refused ([`TusError`]; statuses and codes in `http::error`).

mod body;
mod create;
mod direct;
mod error;
mod headers;
mod lease;
mod lifecycle;

use std::time::Duration;

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{head, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::ToSchema;
use vitrine_api::{extract::Caller, ApiResult, AppState};
use vitrine_identity::principal::Scope;

use self::{
    create::{Created, Owner},
    headers::{
        CHECKSUM_ALGORITHMS, TUS_RESUMABLE, UPLOAD_CHECKSUM, UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH,
        UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET, VIDEO_ID,
    },
};
pub use self::{
    direct::DirectUploadError,
    error::TusError,
    headers::{MAX_CHECKSUMMED_BODY, TUS_VERSION},
    lifecycle::discard,
};
use crate::uploads::{Upload, UploadState};

/// The extensions this server supports (`Tus-Extension`).
const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,\
                          checksum,termination,concatenation";

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
    let owner = Owner::creator(&state, &creator.id);
    let created = create::create(&state, owner, &headers, body).await?;
    created_response(&state, created)
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
    let direct = direct::usable(&state, &id).await?;
    let owner = Owner::direct(&state, direct);
    let created = create::create(&state, owner, &headers, body).await?;
    created_response(&state, created)
}

/// 201 with the new upload's URL (`Location`) and its headers; `Upload-Offset` only when bytes
/// came with the creation.
fn created_response(state: &AppState, created: Created) -> ApiResult<Response> {
    let Created {
        upload,
        stored_bytes,
    } = created;
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        header_value(&format!("{}/v1/uploads/{}", state.urls.public, upload.id))?,
    );
    describe(headers, &upload)?;
    if !stored_bytes {
        headers.remove(UPLOAD_OFFSET);
    }
    Ok(response)
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
    headers::check_version(&headers)?;
    let upload = lifecycle::find(&state, &id).await?;
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
    let (mut upload, checksum) = match body::check_append(&state, &id, &headers).await {
        Ok(checked) => checked,
        Err(e) => {
            body::drain(body).await;
            return Err(e.into());
        }
    };
    body::write_body(&state, &mut upload, checksum, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    describe(response.headers_mut(), &upload)?;
    Ok(response)
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
    headers::check_version(&headers)?;
    lifecycle::terminate(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let wanted = direct::Wanted {
        title: request.title.as_deref(),
        max_size: request.max_size_bytes,
        lifetime_secs: request.expires_in_seconds,
    };
    let direct = direct::create(&state, &creator.id, wanted).await?;
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

fn header_value(value: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|e| anyhow::Error::new(e).context("building a header"))
}
