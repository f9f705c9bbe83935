//! Resumable uploads (tus 1.0) over real HTTP against the real application: the protocol and its
//! extensions, errors, durability of the offset, the S3 multipart path with PostgreSQL, direct
//! upload URLs, duplicates and the expiry sweep. The worker is not started where the test is
//! about the upload only: the video then stays `queued`, which is what admission means.
//!
//! (About 1,100 lines: one test per behaviour of the two upload paths, which share their fixtures
//! and their checks of what was stored.)

use std::{path::Path, time::Duration};

use crate::common::{
    assert_error, big_video, fresh_postgres_url, fresh_s3_bucket, media, test_config, DbKind,
    TestApp,
};
use base64::Engine as _;
use reqwest::{header::HeaderMap, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vitrine::Role;

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");
const OFFSET_STREAM: (&str, &str) = ("Content-Type", "application/offset+octet-stream");

async fn api_only(db: DbKind) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    if db == DbKind::Postgres {
        config.storage.database_url = Some(fresh_postgres_url().await.into());
    }
    TestApp::spawn_with(config, Role::Api, Some(dir)).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn b64(s: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

struct Created {
    location: String,
    video_id: Option<String>,
    headers: HeaderMap,
}

async fn create(app: &TestApp, token: &str, length: usize, metadata: &str) -> Created {
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(token)
        .header(TUS.0, TUS.1)
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    created(r)
}

fn created(r: Response) -> Created {
    let headers = r.headers().clone();
    assert_eq!(header(&headers, "tus-resumable"), "1.0.0");
    Created {
        location: header(&headers, "location"),
        video_id: headers
            .get("video-id")
            .map(|v| v.to_str().unwrap().to_owned()),
        headers,
    }
}

async fn patch(app: &TestApp, url: &str, offset: usize, bytes: &[u8]) -> Response {
    app.client
        .patch(url)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", offset.to_string())
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn head_offset(app: &TestApp, url: &str) -> u64 {
    let r = app
        .client
        .head(url)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    header(r.headers(), "upload-offset").parse().unwrap()
}

/// Sends, on one raw HTTP/1.1 connection, a PATCH at offset 0 (refused: the upload is further
/// along) with 1 MiB of bytes, then a HEAD: whether the HEAD is answered on the same connection.
async fn refused_patch_keeps_the_connection(url: &str) -> bool {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let url = reqwest::Url::parse(url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let body = vec![0u8; 1 << 20];
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n\
         Content-Length: {}\r\n\r\n",
        url.path(),
        body.len()
    );
    write.write_all(head.as_bytes()).await.unwrap();
    // The answer may come before all the bytes are sent: send them alongside.
    let sender = tokio::spawn(async move {
        let _ = write.write_all(&body).await;
        write
    });
    // Status line and headers, then the body by its length.
    let mut status = String::new();
    read.read_line(&mut status).await.unwrap();
    assert!(status.contains(" 409 "), "{status}");
    let mut length = 0;
    loop {
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut answer = vec![0u8; length];
    read.read_exact(&mut answer).await.unwrap();
    let mut write = sender.await.unwrap();
    let head = format!(
        "HEAD {} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n",
        url.path()
    );
    if write.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut status = String::new();
    let answered = tokio::time::timeout(Duration::from_secs(10), read.read_line(&mut status)).await;
    matches!(answered, Ok(Ok(n)) if n > 0) && status.contains(" 200 ")
}

/// Every byte of the stored original, through the store the app uses.
async fn stored_original(app: &TestApp, video_id: &str) -> Vec<u8> {
    app.state
        .store
        .get_bytes(&vitrine_assets::keys::original(video_id))
        .await
        .expect("the original is stored")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn options_announces_tus_and_browsers_may_call_it_from_another_origin() {
    let app = api_only(DbKind::Sqlite).await;

    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(header(h, "tus-version"), "1.0.0");
    assert_eq!(header(h, "tus-resumable"), "1.0.0");
    let extensions = header(h, "tus-extension");
    for ext in [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
        "concatenation",
    ] {
        assert!(extensions.split(',').any(|e| e == ext), "{extensions}");
    }
    assert_eq!(
        header(h, "tus-max-size"),
        app.config.uploads.max_bytes.to_string()
    );
    let algorithms = header(h, "tus-checksum-algorithm");
    assert!(algorithms.contains("sha1") && algorithms.contains("sha256"));

    // A browser's preflight for a PATCH with tus headers.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/uploads/upl_0"))
        .header("Origin", "https://studio.example")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "tus-resumable,upload-offset,content-type",
        )
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(
        header(h, "access-control-allow-origin"),
        "https://studio.example"
    );
    assert!(header(h, "access-control-allow-methods").contains("PATCH"));
    assert!(header(h, "access-control-allow-headers").contains("upload-offset"));

    // The actual request exposes the headers a browser client must read.
    let (_, token) = app.account("creator", "Ana").await;
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header("Origin", "https://studio.example")
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "1000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let exposed = header(r.headers(), "access-control-expose-headers");
    for name in ["location", "upload-offset", "video-id", "upload-expires"] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_in_pieces_with_a_wrong_offset_on_the_way_becomes_a_queued_video() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let bytes = std::fs::read(media("mb_rotate-buck-bunny.mp4")).unwrap();
    let metadata = format!(
        "filename {},filetype {},title {}",
        b64("bunny.mp4"),
        b64("video/mp4"),
        b64("Bunny, resumed")
    );

    let up = create(&app, &token, bytes.len(), &metadata).await;
    assert!(up.location.starts_with(&app.base), "{}", up.location);
    assert!(up.headers.contains_key("upload-expires"));
    let video_id = up.video_id.clone().expect("Video-Id at creation");
    let video = app.get_video(&video_id).await;
    assert_eq!(video["status"], "uploading");
    assert_eq!(video["title"], "Bunny, resumed");
    assert_eq!(video["upload"], json!({"offset": 0, "length": bytes.len()}));

    let first = 100_000;
    let r = patch(&app, &up.location, 0, &bytes[..first]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(r.headers(), "upload-offset"), first.to_string());
    assert_eq!(head_offset(&app, &up.location).await, first as u64);
    assert_eq!(
        app.get_video(&video_id).await["upload"]["offset"],
        first as u64
    );

    // A client that lost track (its PATCH timed out after the server stored it) resends from 0.
    let r = patch(&app, &up.location, 0, &bytes[..first]).await;
    let body = assert_error(r, StatusCode::CONFLICT, "offset_mismatch").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&first.to_string()),
        "{body}"
    );
    // The refused bytes were read, not left unread: the connection stays usable, so a client's
    // next request on it (from its connection pool) is not met by a closed socket.
    assert!(
        refused_patch_keeps_the_connection(&up.location).await,
        "the connection was closed after a refused PATCH"
    );
    assert_eq!(head_offset(&app, &up.location).await, first as u64);

    let r = patch(&app, &up.location, first, &bytes[first..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(r.headers(), "upload-offset"),
        bytes.len().to_string()
    );

    let video = app.get_video(&video_id).await;
    assert_eq!(video["status"], "queued", "{video}");
    assert!(video.get("upload").is_none(), "{video}");
    assert!(video["duration_ms"].as_i64().unwrap() > 0);
    assert_eq!(
        sha256_hex(&stored_original(&app, &video_id).await),
        sha256_hex(&bytes)
    );
    // The staging file is gone once the original is in place.
    let root = app.state.store.local_root().unwrap();
    assert!(
        std::fs::read_dir(root.join("uploads"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "staging left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tus_requests_get_clear_errors_and_lose_nothing_stored() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let (_, merchant) = app.account("merchant", "Shop").await;
    let bytes = std::fs::read(media("mp_smpte-2997.mp4")).unwrap();
    let post = |token: &str| {
        app.client
            .post(app.url("/v1/uploads"))
            .bearer_auth(token.to_owned())
    };

    let r = post(&token)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::PRECONDITION_FAILED, "missing_tus_resumable").await;
    let r = post(&token)
        .header(TUS.0, "0.2.2")
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::PRECONDITION_FAILED,
        "unsupported_tus_version",
    )
    .await;
    let r = post(&token).header(TUS.0, TUS.1).send().await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "missing_upload_length").await;
    let r = post(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "lots")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_upload_length").await;
    // Too large is refused before a byte is sent.
    let r = post(&token)
        .header(TUS.0, TUS.1)
        .header(
            "Upload-Length",
            (app.config.uploads.max_bytes + 1).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let r = post(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "10")
        .header("Upload-Metadata", format!("filetype {}", b64("image/png")))
        .send()
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = post(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "10")
        .header("Upload-Metadata", "filename not-base64!")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = post(&merchant)
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "not_a_creator").await;

    let up = create(&app, &token, bytes.len(), "").await;
    let half = bytes.len() / 2;
    assert_eq!(
        patch(&app, &up.location, 0, &bytes[..half]).await.status(),
        StatusCode::NO_CONTENT
    );

    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", half.to_string())
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "missing_upload_offset").await;
    // Checksums: a wrong one (460, nothing kept), an unknown algorithm (400).
    let wrong = b64(sha1::Sha1::digest(b"something else"));
    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", half.to_string())
        .header("Upload-Checksum", format!("sha1 {wrong}"))
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::from_u16(460).unwrap(), "checksum_mismatch").await;
    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", half.to_string())
        .header("Upload-Checksum", format!("crc32 {}", b64("1234")))
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_checksum_algorithm").await;
    // More bytes than the upload's length.
    let mut too_many = bytes[half..].to_vec();
    too_many.extend_from_slice(b"trailing");
    let r = patch(&app, &up.location, half, &too_many).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(head_offset(&app, &up.location).await, half as u64);

    // Unknown uploads.
    let r = patch(&app, &app.url("/v1/uploads/upl_nope"), 0, b"x").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let missing = format!("/v1/uploads/upl_{}", uuid::Uuid::new_v4().simple());
    let r = app
        .client
        .head(app.url(&missing))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // With the right checksums (sha256 here), the rest goes in and the video is whole.
    let right = b64(Sha256::digest(&bytes[half..]));
    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", half.to_string())
        .header("Upload-Checksum", format!("sha256 {right}"))
        .body(bytes[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let video_id = up.video_id.unwrap();
    assert_eq!(app.get_video(&video_id).await["status"], "queued");
    assert_eq!(
        sha256_hex(&stored_original(&app, &video_id).await),
        sha256_hex(&bytes)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_with_upload_and_a_deferred_length() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let bytes = std::fs::read(media("mp4ff_bbb_prog_10s.mp4")).unwrap();
    let first = 50_000;

    // The first bytes travel with the creation request; the length is not known yet (a
    // recording still being written).
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Defer-Length", "1")
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .body(bytes[..first].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let up = created(r);
    assert_eq!(header(&up.headers, "upload-offset"), first.to_string());
    let r = app
        .client
        .head(&up.location)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(header(r.headers(), "upload-defer-length"), "1");
    assert!(r.headers().get("upload-length").is_none());
    let video_id = up.video_id.unwrap();
    assert_eq!(
        app.get_video(&video_id).await["upload"],
        json!({"offset": first, "length": null})
    );

    // The last PATCH declares the length.
    let r = app
        .client
        .patch(&up.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", first.to_string())
        .header("Upload-Length", bytes.len().to_string())
        .body(bytes[first..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_video(&video_id).await["status"], "queued");
    assert_eq!(
        sha256_hex(&stored_original(&app, &video_id).await),
        sha256_hex(&bytes)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_uploads_are_concatenated_into_one_video_and_termination_frees_everything() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let (_, other) = app.account("creator", "Bo").await;
    let bytes = std::fs::read(media("mb_1080p-portrait-derotated.mp4")).unwrap();
    let cuts = [0, bytes.len() / 3, 2 * bytes.len() / 3, bytes.len()];

    let mut partials = Vec::new();
    for piece in cuts.windows(2) {
        let r = app
            .client
            .post(app.url("/v1/uploads"))
            .bearer_auth(&token)
            .header(TUS.0, TUS.1)
            .header("Upload-Concat", "partial")
            .header("Upload-Length", (piece[1] - piece[0]).to_string())
            .send()
            .await
            .unwrap();
        let up = created(r);
        assert!(up.video_id.is_none(), "a partial upload is not a video");
        partials.push((up.location, piece[0], piece[1]));
    }
    let names = partials
        .iter()
        .map(|(url, ..)| url.clone())
        .collect::<Vec<_>>()
        .join(" ");
    // Concatenating before the partials are finished is refused.
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Concat", format!("final;{names}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "partial_upload_unfinished").await;
    // In reverse order, as parallel uploads finish.
    for (url, from, to) in partials.iter().rev() {
        let r = patch(&app, url, 0, &bytes[*from..*to]).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    // Someone else's partials are not theirs to use.
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&other)
        .header(TUS.0, TUS.1)
        .header("Upload-Concat", format!("final;{names}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_upload_concat").await;

    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Concat", format!("final;{names}"))
        .header("Upload-Metadata", format!("title {}", b64("three pieces")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let fin = created(r);
    assert_eq!(
        header(&fin.headers, "upload-offset"),
        bytes.len().to_string()
    );
    let video_id = fin.video_id.unwrap();
    let video = app.get_video(&video_id).await;
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(video["title"], "three pieces");
    assert_eq!(
        sha256_hex(&stored_original(&app, &video_id).await),
        sha256_hex(&bytes)
    );
    let r = app
        .client
        .head(&fin.location)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert!(header(r.headers(), "upload-concat").starts_with("final;"));
    // A final upload takes no bytes of its own.
    let r = patch(&app, &fin.location, bytes.len(), b"x").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    // Termination: half an upload, then DELETE. Its bytes, its video and the upload are gone.
    let bytes = std::fs::read(media("mb_video-h265.mp4")).unwrap();
    let up = create(&app, &token, bytes.len(), "").await;
    patch(&app, &up.location, 0, &bytes[..bytes.len() / 2]).await;
    let root = app.state.store.local_root().unwrap().to_owned();
    let staged = |root: &Path| {
        std::fs::read_dir(root.join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(staged(&root) > 0, "half an upload is staged");
    let r = app
        .client
        .delete(&up.location)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .client
        .head(&up.location)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("/v1/videos/{}", up.video_id.unwrap()))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Only the finished (concatenated) partials' data and nothing of the terminated one.
    let leftovers: Vec<_> = std::fs::read_dir(root.join("uploads"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|name| name.to_string_lossy().ends_with(".data")),
        "{leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_video_is_refused_with_a_reason_and_the_same_bytes_again_are_the_same_video() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let (_, other) = app.account("creator", "Bo").await;

    let text = b"these are not the frames you are looking for".repeat(100);
    let up = create(&app, &token, text.len(), "").await;
    let r = patch(&app, &up.location, 0, &text).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let refused = up.video_id.unwrap();
    let video = app.get_video(&refused).await;
    assert_eq!(video["status"], "failed", "{video}");
    assert!(video["error"].as_str().unwrap().contains("not"), "{video}");
    // The refused bytes are not kept.
    assert!(app
        .state
        .store
        .head(&vitrine_assets::keys::original(&refused))
        .await
        .unwrap()
        .is_none());

    // The same clip twice, once in one request and once resumable: one video.
    let bytes = std::fs::read(media("mb_rotate-buck-bunny.mp4")).unwrap();
    let first: Value = app
        .upload(&token, &media("mb_rotate-buck-bunny.mp4"), "first")
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .upload(&token, &media("mb_rotate-buck-bunny.mp4"), "again")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "a copy returns the original");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let up = create(&app, &token, bytes.len(), "").await;
    let provisional = up.video_id.clone().unwrap();
    assert_ne!(provisional, first["id"].as_str().unwrap());
    let r = patch(&app, &up.location, 0, &bytes).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(r.headers(), "video-id"),
        first["id"].as_str().unwrap()
    );
    // The id handed out at creation leads to the existing video.
    let video = app.get_video(&provisional).await;
    assert_eq!(video["id"], first["id"]);
    let (status, ..) = app
        .fetch(&app.url(&format!("/v1/videos/{}", first["id"].as_str().unwrap())))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Another creator's identical bytes are their own video.
    let theirs: Value = app
        .upload(&other, &media("mb_rotate-buck-bunny.mp4"), "mine too")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_upload_url_creates_exactly_one_video_without_other_credentials() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let bytes = std::fs::read(media("exo_hlg10-color-test.mp4")).unwrap();

    for (body, code) in [
        (json!({"expires_in_seconds": 10}), "invalid_expiry"),
        (
            json!({"expires_in_seconds": 8 * 24 * 3600}),
            "invalid_expiry",
        ),
        (json!({"max_size_bytes": 0}), "invalid_max_size"),
        (json!({"colour": "red"}), "invalid_body"),
    ] {
        let r = app
            .client
            .post(app.url("/v1/direct-uploads"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_client_error(), "{body}: {status}");
        let got: Value = r.json().await.unwrap();
        assert_eq!(got["error"]["code"], code, "{body}: {got}");
    }

    let r = app
        .client
        .post(app.url("/v1/direct-uploads"))
        .bearer_auth(&token)
        .json(&json!({"title": "from the app", "max_size_bytes": bytes.len() + 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let direct: Value = r.json().await.unwrap();
    let endpoint = direct["upload_url"].as_str().unwrap().to_owned();
    let expires = direct["expires_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (expires - now - 3600).abs() < 60,
        "default expiry is an hour"
    );

    let create_at = |length: usize| {
        app.client
            .post(&endpoint)
            .header(TUS.0, TUS.1)
            .header("Upload-Length", length.to_string())
            .send()
    };
    // Above the URL's own size limit.
    let r = create_at(bytes.len() + 11).await.unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let r = create_at(bytes.len()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let up = created(r);
    let video_id = up.video_id.unwrap();
    // Used once: a second video is refused.
    let r = create_at(bytes.len()).await.unwrap();
    assert_error(r, StatusCode::CONFLICT, "direct_upload_used").await;

    assert_eq!(
        patch(&app, &up.location, 0, &bytes).await.status(),
        StatusCode::NO_CONTENT
    );
    let video = app.get_video(&video_id).await;
    assert_eq!(video["status"], "queued");
    assert_eq!(video["title"], "from the app");

    // An expired URL says so.
    let r = app
        .client
        .post(app.url("/v1/direct-uploads"))
        .bearer_auth(&token)
        .json(&json!({"expires_in_seconds": 60}))
        .send()
        .await
        .unwrap();
    let direct: Value = r.json().await.unwrap();
    sqlx::query("UPDATE direct_uploads SET expires_at = 0 WHERE id = $1")
        .bind(direct["id"].as_str().unwrap())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .client
        .post(direct["upload_url"].as_str().unwrap())
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "100")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::GONE, "direct_upload_expired").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_bytes_all_arrived_but_was_never_finished_is_finished_by_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // The sweep runs every second.
    config.uploads.expiry = std::time::Duration::from_secs(4);
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (_, token) = app.account("creator", "Ana").await;
    let bytes = std::fs::read(media("mp_smpte-2997.mp4")).unwrap();
    let up = create(&app, &token, bytes.len(), "").await;
    let upload_id = up.location.rsplit('/').next().unwrap().to_owned();
    // Every byte stored and recorded, then the server died before completing the upload (the
    // client, seeing offset == length, sends nothing more): simulated by recording the last
    // PATCH's offset as the length without finishing.
    let r = patch(&app, &up.location, 0, &bytes[..bytes.len() - 1]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    sqlx::query(
        "UPDATE uploads SET length = upload_offset, updated_at = 0, expires_at = 0 WHERE id = $1",
    )
    .bind(&upload_id)
    .execute(app.state.db.pool())
    .await
    .unwrap();

    let video_id = up.video_id.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state: String = sqlx::query_scalar("SELECT state FROM uploads WHERE id = $1")
            .bind(&upload_id)
            .fetch_one(app.state.db.pool())
            .await
            .expect("an upload whose bytes all arrived is never swept away");
        if state == "done" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let video = app.get_video(&video_id).await;
    assert_ne!(video["status"], "uploading", "{video}");

    // Zero bytes is not a video, whenever the length is declared.
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header(TUS.0, TUS.1)
        .header("Upload-Defer-Length", "1")
        .send()
        .await
        .unwrap();
    let deferred = created(r);
    let r = app
        .client
        .patch(&deferred.location)
        .header(TUS.0, TUS.1)
        .header(OFFSET_STREAM.0, OFFSET_STREAM.1)
        .header("Upload-Offset", "0")
        .header("Upload-Length", "0")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "empty_upload").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_unfinished_uploads_are_swept_and_their_space_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // Two seconds to live; the sweep then runs every second.
    config.uploads.expiry = std::time::Duration::from_secs(2);
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let (_, token) = app.account("creator", "Ana").await;
    let bytes = std::fs::read(media("mb_fucked-keyframes.mp4")).unwrap();
    let up = create(&app, &token, bytes.len(), "").await;
    patch(&app, &up.location, 0, &bytes[..bytes.len() / 2]).await;
    let staging = app.state.store.local_root().unwrap().join("uploads");
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 1);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = app
            .client
            .head(&up.location)
            .header(TUS.0, TUS.1)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::GONE,
            "{}",
            r.status()
        );
        assert!(std::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the staged bytes are deleted");
    let r = app
        .get(&format!("/v1/videos/{}", up.video_id.unwrap()))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The scale-out configuration: PostgreSQL and S3. Small PATCHes (as a phone on a bad network
/// sends) accumulate in the tail object until they make a 5 MiB part; a 9 MiB PATCH is split
/// at the 8 MiB piece size; the last part may be small.
#[tokio::test(flavor = "multi_thread")]
async fn on_s3_small_patches_become_multipart_parts_of_at_least_5_mib() {
    let dir = tempfile::tempdir().unwrap();
    let source = big_video(dir.path(), 9);
    let bytes = std::fs::read(&source).unwrap();
    assert!(bytes.len() > 16 * 1024 * 1024, "{}", bytes.len());
    let mut config = test_config(dir.path());
    config.storage.database_url = Some(fresh_postgres_url().await.into());
    fresh_s3_bucket(&mut config).await;
    let app = TestApp::spawn_with(config, Role::Api, None).await;
    let (_, token) = app.account("creator", "Ana").await;

    let up = create(&app, &token, bytes.len(), "").await;
    let upload_id = up.location.rsplit('/').next().unwrap().to_owned();
    let mib = 1024 * 1024;
    let mut offset = 0;
    // 1 MiB PATCHes up to 6 MiB: the first five stay in the tail, the sixth makes a part.
    while offset < 6 * mib {
        let r = patch(&app, &up.location, offset, &bytes[offset..offset + mib]).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        offset += mib;
        assert_eq!(head_offset(&app, &up.location).await, offset as u64);
    }
    let storage: Value = serde_json::from_str(
        &sqlx::query_scalar::<_, String>("SELECT storage FROM uploads WHERE id = $1")
            .bind(&upload_id)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap(),
    )
    .unwrap();
    let parts = storage["parts"].as_array().expect("a part was sent");
    assert_eq!(parts.len(), 1, "{storage}");
    assert!(parts[0]["size"].as_u64().unwrap() >= 5 * mib as u64);

    // One 9 MiB PATCH, then the rest.
    let r = patch(&app, &up.location, offset, &bytes[offset..offset + 9 * mib]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    offset += 9 * mib;
    let r = patch(&app, &up.location, offset, &bytes[offset..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let video_id = up.video_id.unwrap();
    let video = app.get_video(&video_id).await;
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(
        sha256_hex(&stored_original(&app, &video_id).await),
        sha256_hex(&bytes)
    );
    // No staging object is left in the bucket.
    let staged = app.state.store.list("uploads/").await.unwrap();
    assert!(staged.is_empty(), "{staged:?}");

    // Termination on S3: a part sent and a tail kept, then DELETE; the multipart upload is
    // aborted (S3 would otherwise keep, and bill, its parts) and the tail object removed.
    let up = create(&app, &token, bytes.len(), "").await;
    let r = patch(&app, &up.location, 0, &bytes[..6 * mib]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = patch(&app, &up.location, 6 * mib, &bytes[6 * mib..7 * mib]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s3 = crate::common::s3_client(&app.config).await;
    let bucket = app.config.storage.s3.bucket.clone().unwrap();
    let pending = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.uploads().len(), 1, "{pending:?}");
    assert_eq!(app.state.store.list("uploads/").await.unwrap().len(), 1);
    let r = app
        .client
        .delete(&up.location)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let pending = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty(), "{pending:?}");
    assert!(app.state.store.list("uploads/").await.unwrap().is_empty());
}

/// A DELETE that waits while the last PATCH finishes the upload does not answer 204 for an
/// upload whose clip is now published: it re-reads the upload once it holds it, and says the
/// upload finished (409); the clip stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_racing_the_last_patch_does_not_claim_to_remove_a_published_clip() {
    let app = api_only(DbKind::Sqlite).await;
    let (_, token) = app.account("creator", "Ana").await;
    let up = create(&app, &token, 1_000, "").await;
    let id: vitrine_core::ids::UploadId = up.location.rsplit('/').next().unwrap().parse().unwrap();
    // The last PATCH holds the upload…
    assert!(
        vitrine_ingest::uploads::lock(&app.state.db, &id, "last-patch", 30_000)
            .await
            .unwrap()
    );
    let delete = {
        let (client, url) = (app.client.clone(), up.location.clone());
        tokio::spawn(async move {
            client
                .delete(&url)
                .header(TUS.0, TUS.1)
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // …and finishes it (its clip admitted) while the DELETE waits.
    sqlx::query("UPDATE uploads SET state = 'done', upload_offset = 1000 WHERE id = $1")
        .bind(id.as_str())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    vitrine_ingest::uploads::unlock(&app.state.db, &id, "last-patch")
        .await
        .unwrap();
    let r = delete.await.unwrap();
    assert_error(r, StatusCode::CONFLICT, "upload_finished").await;
    let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(still, 1, "the finished upload and its clip are kept");
    let video = app.get_video(up.video_id.as_deref().unwrap()).await;
    assert_eq!(video["id"], up.video_id.unwrap().as_str());
}
