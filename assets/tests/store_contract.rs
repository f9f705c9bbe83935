//! The storage contract: what every `Store` backend promises.
//!
//! Each test in `contract` is written once against `Store` and run twice, as `fs::<name>` on a
//! temporary directory and as `s3::<name>` on a fresh bucket of a real S3-compatible server
//! (moto). The S3 tests need that server: run them through `scripts/with-s3.sh`, which starts one
//! and sets `VITRINE_TEST_S3_ENDPOINT`; without it they fail rather than pass silently.
//!
//! `s3_only` holds what only S3 has: presigned URLs and multipart uploads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use tempfile::TempDir;
use vitrine_assets::{ByteRange, FsStore, S3Config, S3Store, Store, StoreError};

const MIB: usize = 1024 * 1024;

/// A store to test, plus a scratch directory for the local files uploads read and downloads write.
struct Fixture {
    store: Store,
    scratch: TempDir,
    backend: Backend,
}

enum Backend {
    /// The store's root is `parent/store`: anything else appearing in `parent` escaped the root.
    Fs { parent: TempDir },
    /// A raw client on the same bucket, to see what the store cannot show (pending uploads).
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

async fn fs_fixture() -> Fixture {
    let parent = TempDir::new().unwrap();
    let store = FsStore::new(parent.path().join("store")).unwrap();
    Fixture {
        store: store.into(),
        scratch: TempDir::new().unwrap(),
        backend: Backend::Fs { parent },
    }
}

async fn s3_fixture() -> Fixture {
    let Ok(endpoint) = std::env::var("VITRINE_TEST_S3_ENDPOINT") else {
        panic!(
            "VITRINE_TEST_S3_ENDPOINT is not set: the S3 contract tests need an S3-compatible \
             server. Run them through `scripts/with-s3.sh cargo test -p vitrine-assets`, which \
             starts moto_server and sets it."
        );
    };
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let bucket = format!("vitrine-test-{}", uuid::Uuid::new_v4().simple());
    let store = S3Store::connect(&S3Config {
        endpoint: Some(endpoint.clone()),
        bucket: bucket.clone(),
        region: region.clone(),
        path_style: true,
    })
    .await
    .unwrap();
    store.ensure_bucket().await.unwrap();
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint)
        .load()
        .await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(true)
            .build(),
    );
    Fixture {
        store: store.into(),
        scratch: TempDir::new().unwrap(),
        backend: Backend::S3 { client, bucket },
    }
}

impl Fixture {
    fn scratch_file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Everything the backend holds, visible to `list` or not: on the filesystem every file
    /// under the root's parent (temporary files, files that escaped the root); on S3 every
    /// object and every unfinished multipart upload.
    async fn everything_stored(&self) -> Vec<String> {
        match &self.backend {
            Backend::Fs { parent } => files_under(parent.path()),
            Backend::S3 { client, bucket } => {
                let mut stored = self.store.list("").await.unwrap();
                let uploads = client
                    .list_multipart_uploads()
                    .bucket(bucket)
                    .send()
                    .await
                    .unwrap();
                stored.extend(
                    uploads
                        .uploads()
                        .iter()
                        .map(|upload| format!("unfinished upload of {:?}", upload.key())),
                );
                stored
            }
        }
    }

    /// Waits (bounded) for the backend to hold nothing: S3 aborts a cancelled upload from a
    /// background task.
    async fn assert_eventually_empty(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stored = self.everything_stored().await;
            if stored.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still stored after 10 s: {stored:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.display().to_string());
            }
        }
    }
    files
}

/// Deterministic, non-repeating-looking bytes, so a misplaced or duplicated part shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Compares large buffers without printing megabytes on failure.
#[track_caller]
fn assert_same_bytes(actual: &[u8], expected: &[u8]) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    if let Some(offset) = actual.iter().zip(expected).position(|(a, b)| a != b) {
        panic!("bytes differ from offset {offset}");
    }
}

async fn read_body(object: vitrine_assets::Object) -> Vec<u8> {
    let mut body = object.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}

fn chunks_of(data: &[u8], chunk_size: usize) -> Vec<std::io::Result<Bytes>> {
    data.chunks(chunk_size)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect()
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test]
                async fn $name() {
                    super::contract::$name(super::fs_fixture().await).await;
                }
            )*
        }

        mod s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    super::contract::$name(super::s3_fixture().await).await;
                }
            )*
        }
    };
}

contract_tests!(
    bytes_put_come_back_unchanged,
    an_empty_object_is_an_object,
    a_file_over_twenty_mib_round_trips_byte_for_byte,
    a_stream_of_many_small_chunks_is_stored_whole,
    ranges_serve_exactly_the_bytes_asked_for,
    ranges_starting_past_the_end_are_not_satisfiable,
    head_reports_size_and_type_or_none_when_missing,
    reading_a_missing_object_is_not_found,
    deleting_twice_is_fine,
    delete_prefix_removes_that_prefix_and_nothing_else,
    list_returns_sorted_keys_under_the_prefix,
    invalid_keys_are_rejected_and_nothing_is_written,
    putting_again_replaces_the_object,
    a_failing_stream_stores_nothing_and_keeps_the_old_object,
    a_cancelled_upload_leaves_nothing_behind,
);

mod contract {
    use super::*;
    use vitrine_assets::keys;

    pub async fn bytes_put_come_back_unchanged(fx: Fixture) {
        let key = keys::rendition_file("vid_1", "hls/720p.m3u8");
        let playlist = Bytes::from_static(b"#EXTM3U\n#EXT-X-VERSION:7\n");

        fx.store
            .put_bytes(&key, playlist.clone(), "application/vnd.apple.mpegurl")
            .await
            .unwrap();

        assert_eq!(fx.store.get_bytes(&key).await.unwrap(), playlist);
        let object = fx.store.get(&key, None).await.unwrap();
        let len = playlist.len() as u64;
        assert_eq!((object.len, object.total, object.range), (len, len, None));
        assert_eq!(
            object.content_type.as_deref(),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(read_body(object).await, playlist);
    }

    pub async fn an_empty_object_is_an_object(fx: Fixture) {
        fx.store
            .put_bytes("empty.json", Bytes::new(), "application/json")
            .await
            .unwrap();

        assert_eq!(
            fx.store.get_bytes("empty.json").await.unwrap(),
            Bytes::new()
        );
        assert_eq!(fx.store.head("empty.json").await.unwrap().unwrap().size, 0);
        assert_eq!(fx.store.list("").await.unwrap(), ["empty.json"]);
    }

    pub async fn a_file_over_twenty_mib_round_trips_byte_for_byte(fx: Fixture) {
        let original = pattern(21 * MIB + 12_345, 1);
        let upload = fx.scratch_file("upload.mp4");
        tokio::fs::write(&upload, &original).await.unwrap();
        let key = keys::original("vid_big");

        let stored = fx.store.put_file(&key, &upload, "video/mp4").await.unwrap();
        let download = fx.scratch_file("nested/dir/download.mp4");
        let fetched = fx.store.get_to_file(&key, &download).await.unwrap();

        assert_eq!(stored, original.len() as u64);
        assert_eq!(fetched, original.len() as u64);
        assert_same_bytes(&tokio::fs::read(&download).await.unwrap(), &original);
        let meta = fx.store.head(&key).await.unwrap().unwrap();
        assert_eq!(meta.size, original.len() as u64);
        assert_eq!(
            files_under(fx.scratch.path()).len(),
            2,
            "download left temporary files"
        );
    }

    pub async fn a_stream_of_many_small_chunks_is_stored_whole(fx: Fixture) {
        // 3,000 chunks of 3,001 bytes: 9 MB, more than one 8 MiB part, cut mid-chunk.
        let data = pattern(3_000 * 3_001, 2);
        let stream = futures::stream::iter(chunks_of(&data, 3_001));

        let written = fx
            .store
            .put_stream("videos/vid_2/mp4/720p.mp4", stream, "video/mp4")
            .await
            .unwrap();

        assert_eq!(written, data.len() as u64);
        let stored = fx
            .store
            .get_bytes("videos/vid_2/mp4/720p.mp4")
            .await
            .unwrap();
        assert_same_bytes(&stored, &data);
    }

    pub async fn ranges_serve_exactly_the_bytes_asked_for(fx: Fixture) {
        let data = pattern(1_000, 3);
        fx.store
            .put_bytes("clip.mp4", data.clone().into(), "video/mp4")
            .await
            .unwrap();

        for (range, first, last) in [
            (ByteRange::From(990), 990, 999),
            (ByteRange::FromTo(0, 0), 0, 0),
            (ByteRange::FromTo(100, 199), 100, 199),
            (ByteRange::FromTo(900, 5_000), 900, 999),
            (ByteRange::Suffix(10), 990, 999),
            (ByteRange::Suffix(5_000), 0, 999),
        ] {
            let object = fx.store.get("clip.mp4", Some(range)).await.unwrap();
            assert_eq!(object.range, Some((first, last)), "{range:?}");
            assert_eq!(object.total, 1_000, "{range:?}");
            assert_eq!(object.len, last - first + 1, "{range:?}");
            assert_eq!(object.content_type.as_deref(), Some("video/mp4"));
            let body = read_body(object).await;
            assert_eq!(body, data[first as usize..=last as usize], "{range:?}");
        }
    }

    pub async fn ranges_starting_past_the_end_are_not_satisfiable(fx: Fixture) {
        fx.store
            .put_bytes("clip.mp4", pattern(1_000, 4).into(), "video/mp4")
            .await
            .unwrap();

        for range in [
            ByteRange::From(1_000),
            ByteRange::FromTo(1_000, 1_010),
            ByteRange::Suffix(0),
        ] {
            let result = fx.store.get("clip.mp4", Some(range)).await;
            assert!(
                matches!(result, Err(StoreError::InvalidRange)),
                "{range:?}: {result:?}"
            );
        }
    }

    pub async fn head_reports_size_and_type_or_none_when_missing(fx: Fixture) {
        fx.store
            .put_bytes(
                "videos/vid_3/poster.jpg",
                pattern(4_321, 5).into(),
                "image/jpeg",
            )
            .await
            .unwrap();

        let meta = fx
            .store
            .head("videos/vid_3/poster.jpg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(meta.size, 4_321);
        assert_eq!(meta.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            fx.store.head("videos/vid_3/missing.jpg").await.unwrap(),
            None
        );
        // A "directory" of the filesystem store is not an object either.
        assert_eq!(fx.store.head("videos/vid_3").await.unwrap(), None);
    }

    pub async fn reading_a_missing_object_is_not_found(fx: Fixture) {
        let download = fx.scratch_file("download.bin");

        let get = fx.store.get("originals/nope", None).await;
        let get_bytes = fx.store.get_bytes("originals/nope").await;
        let get_to_file = fx.store.get_to_file("originals/nope", &download).await;

        assert!(matches!(get, Err(StoreError::NotFound(key)) if key == "originals/nope"));
        assert!(
            matches!(get_bytes, Err(StoreError::NotFound(_))),
            "{get_bytes:?}"
        );
        assert!(
            matches!(get_to_file, Err(StoreError::NotFound(_))),
            "{get_to_file:?}"
        );
        assert!(!download.exists());
    }

    pub async fn deleting_twice_is_fine(fx: Fixture) {
        fx.store
            .put_bytes(
                "products/prd_1/main.webp",
                Bytes::from_static(b"RIFF"),
                "image/webp",
            )
            .await
            .unwrap();

        // A key naming one of the filesystem store's directories is no object: nothing to delete.
        fx.store.delete("products/prd_1").await.unwrap();
        let kept = fx.store.head("products/prd_1/main.webp").await.unwrap();
        assert!(kept.is_some());

        fx.store.delete("products/prd_1/main.webp").await.unwrap();
        fx.store.delete("products/prd_1/main.webp").await.unwrap();
        fx.store.delete("never/existed").await.unwrap();

        assert_eq!(
            fx.store.head("products/prd_1/main.webp").await.unwrap(),
            None
        );
        fx.assert_eventually_empty().await;
    }

    pub async fn delete_prefix_removes_that_prefix_and_nothing_else(fx: Fixture) {
        let doomed = [
            keys::rendition_file("vid_1", "hls/720p.m3u8"),
            keys::rendition_file("vid_1", "hls/720p/seg0.m4s"),
            keys::rendition_file("vid_1", "poster.jpg"),
        ];
        let kept = [
            keys::original("vid_1"),
            keys::rendition_file("vid_10", "poster.jpg"),
            keys::product_image("prd_1", "main.webp"),
        ];
        for key in doomed.iter().chain(&kept) {
            fx.store
                .put_bytes(key, Bytes::from(key.clone()), "application/octet-stream")
                .await
                .unwrap();
        }

        let deleted = fx
            .store
            .delete_prefix(&keys::video_prefix("vid_1"))
            .await
            .unwrap();

        assert_eq!(deleted, 3);
        let mut expected = kept.to_vec();
        expected.sort();
        assert_eq!(fx.store.list("").await.unwrap(), expected);
        assert_eq!(fx.store.delete_prefix("videos/vid_1/").await.unwrap(), 0);
        assert!(matches!(
            fx.store.delete_prefix("").await,
            Err(StoreError::InvalidKey(_))
        ));
    }

    pub async fn list_returns_sorted_keys_under_the_prefix(fx: Fixture) {
        for key in [
            "videos/b/poster.jpg",
            "videos/a/hls/720p.m3u8",
            "videos/a/hls/360p.m3u8",
            "videos/a-b/poster.jpg",
            "originals/a",
            "videos/a/mp4/720p.mp4",
        ] {
            fx.store
                .put_bytes(key, Bytes::from_static(b"x"), "application/octet-stream")
                .await
                .unwrap();
        }

        assert_eq!(
            fx.store.list("videos/a/").await.unwrap(),
            [
                "videos/a/hls/360p.m3u8",
                "videos/a/hls/720p.m3u8",
                "videos/a/mp4/720p.mp4"
            ]
        );
        // A prefix is a string prefix, not a directory: `videos/a` also matches `videos/a-b/…`.
        assert_eq!(
            fx.store.list("videos/a").await.unwrap(),
            [
                "videos/a-b/poster.jpg",
                "videos/a/hls/360p.m3u8",
                "videos/a/hls/720p.m3u8",
                "videos/a/mp4/720p.mp4"
            ]
        );
        assert_eq!(fx.store.list("").await.unwrap().len(), 6);
        assert_eq!(fx.store.list("o").await.unwrap(), ["originals/a"]);
        assert!(fx.store.list("nothing/").await.unwrap().is_empty());
    }

    pub async fn invalid_keys_are_rejected_and_nothing_is_written(fx: Fixture) {
        let source = fx.scratch_file("source.bin");
        tokio::fs::write(&source, b"payload").await.unwrap();
        let download = fx.scratch_file("download.bin");

        for key in [
            "",
            "/etc/passwd",
            "..",
            "../escaped",
            "videos/../../escaped",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "..\\escaped",
            "a\0b",
        ] {
            let bytes = Bytes::from_static(b"payload");
            let stream = futures::stream::iter(chunks_of(b"payload", 3));
            let results = [
                (
                    "put_bytes",
                    fx.store.put_bytes(key, bytes, "text/plain").await.err(),
                ),
                (
                    "put_file",
                    fx.store.put_file(key, &source, "text/plain").await.err(),
                ),
                (
                    "put_stream",
                    fx.store.put_stream(key, stream, "text/plain").await.err(),
                ),
                ("get_bytes", fx.store.get_bytes(key).await.err()),
                ("get", fx.store.get(key, None).await.err()),
                (
                    "get_to_file",
                    fx.store.get_to_file(key, &download).await.err(),
                ),
                ("head", fx.store.head(key).await.err()),
                ("delete", fx.store.delete(key).await.err()),
            ];
            for (operation, error) in results {
                assert!(
                    matches!(error, Some(StoreError::InvalidKey(_))),
                    "{operation}({key:?}) gave {error:?}"
                );
            }
        }
        for prefix in ["/", "../", "videos/../../"] {
            assert!(matches!(
                fx.store.list(prefix).await,
                Err(StoreError::InvalidKey(_))
            ));
            assert!(matches!(
                fx.store.delete_prefix(prefix).await,
                Err(StoreError::InvalidKey(_))
            ));
        }

        assert_eq!(fx.everything_stored().await, Vec::<String>::new());
        assert!(!download.exists());
    }

    pub async fn putting_again_replaces_the_object(fx: Fixture) {
        let key = keys::rendition_file("vid_4", "hls/720p.m3u8");
        fx.store
            .put_bytes(&key, pattern(10_000, 6).into(), "text/plain")
            .await
            .unwrap();

        fx.store
            .put_bytes(
                &key,
                Bytes::from_static(b"#EXTM3U\n"),
                "application/vnd.apple.mpegurl",
            )
            .await
            .unwrap();
        assert_eq!(fx.store.get_bytes(&key).await.unwrap(), &b"#EXTM3U\n"[..]);
        let meta = fx.store.head(&key).await.unwrap().unwrap();
        assert_eq!(meta.size, 8);

        let shorter = pattern(5_000, 7);
        let stream = futures::stream::iter(chunks_of(&shorter, 1_000));
        fx.store
            .put_stream(&key, stream, "text/plain")
            .await
            .unwrap();
        assert_same_bytes(&fx.store.get_bytes(&key).await.unwrap(), &shorter);
        assert_eq!(fx.store.list("").await.unwrap(), [key]);
    }

    pub async fn a_failing_stream_stores_nothing_and_keeps_the_old_object(fx: Fixture) {
        let key = keys::original("vid_5");
        fx.store
            .put_bytes(&key, Bytes::from_static(b"previous"), "video/mp4")
            .await
            .unwrap();
        // Past one part, so S3 has a multipart upload to abort.
        let mut chunks = chunks_of(&pattern(10 * MIB, 8), 64 * 1024);
        chunks.push(Err(std::io::Error::other("client went away")));

        let result = fx
            .store
            .put_stream(&key, futures::stream::iter(chunks), "video/mp4")
            .await;

        let error = format!("{:#}", anyhow::Error::new(result.unwrap_err()));
        assert!(error.contains("client went away"), "{error}");
        assert_eq!(fx.store.get_bytes(&key).await.unwrap(), &b"previous"[..]);
        fx.store.delete(&key).await.unwrap();
        fx.assert_eventually_empty().await;
    }

    pub async fn a_cancelled_upload_leaves_nothing_behind(fx: Fixture) {
        let data = pattern(9 * MIB, 9);
        let (reached_end, reached_end_rx) = tokio::sync::oneshot::channel::<()>();
        let mut reached_end = Some(reached_end);
        // After the data the stream never ends: the client stalls, and the request is dropped.
        let stalling = futures::stream::iter(chunks_of(&data, 256 * 1024)).chain(
            futures::stream::poll_fn(move |_| {
                if let Some(tx) = reached_end.take() {
                    let _ = tx.send(());
                }
                std::task::Poll::Pending
            }),
        );
        let mut upload = Box::pin(
            fx.store
                .put_stream("originals/vid_6", stalling, "video/mp4"),
        );

        tokio::select! {
            result = &mut upload => panic!("a stalled upload finished: {result:?}"),
            _ = reached_end_rx => {}
        }
        // In flight: a temporary file or a multipart upload exists, but no object yet.
        assert!(!fx.everything_stored().await.is_empty());
        assert_eq!(fx.store.list("").await.unwrap(), Vec::<String>::new());
        drop(upload);

        assert_eq!(fx.store.head("originals/vid_6").await.unwrap(), None);
        fx.assert_eventually_empty().await;
    }
}

mod s3_only {
    use super::*;

    #[tokio::test]
    async fn a_presigned_url_serves_the_object_without_credentials() {
        let fx = s3_fixture().await;
        let Store::S3(store) = &fx.store else {
            unreachable!()
        };
        let data = pattern(100_000, 10);
        store
            .put_bytes("videos/vid_7/poster.jpg", data.clone().into(), "image/jpeg")
            .await
            .unwrap();

        let url = store
            .presign_get("videos/vid_7/poster.jpg", Duration::from_secs(300))
            .await
            .unwrap();
        let response = reqwest::get(&url).await.unwrap();

        assert_eq!(response.status(), 200, "{url}");
        assert_same_bytes(&response.bytes().await.unwrap(), &data);
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
    }

    #[tokio::test]
    async fn files_over_the_threshold_are_uploaded_in_eight_mib_parts() {
        let fx = s3_fixture().await;
        let Backend::S3 { client, bucket } = &fx.backend else {
            unreachable!()
        };
        let big = fx.scratch_file("big.mp4");
        tokio::fs::write(&big, pattern(17 * MIB, 11)).await.unwrap();
        let small = fx.scratch_file("small.mp4");
        tokio::fs::write(&small, pattern(16 * MIB, 12))
            .await
            .unwrap();

        fx.store
            .put_file("big.mp4", &big, "video/mp4")
            .await
            .unwrap();
        fx.store
            .put_file("small.mp4", &small, "video/mp4")
            .await
            .unwrap();

        // S3 gives a multipart object the ETag "<md5 of the part md5s>-<part count>".
        let etag = |key: &'static str| async move {
            let head = client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            head.e_tag().unwrap().trim_matches('"').to_owned()
        };
        assert!(
            etag("big.mp4").await.ends_with("-3"),
            "{}",
            etag("big.mp4").await
        );
        assert!(!etag("small.mp4").await.contains('-'));
        let meta = fx.store.head("big.mp4").await.unwrap().unwrap();
        assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    }

    #[tokio::test]
    async fn a_missing_bucket_is_an_error_not_a_missing_object() {
        let endpoint = std::env::var("VITRINE_TEST_S3_ENDPOINT")
            .expect("VITRINE_TEST_S3_ENDPOINT is not set: run through scripts/with-s3.sh");
        let store = Store::S3(
            S3Store::connect(&S3Config {
                endpoint: Some(endpoint),
                bucket: format!("vitrine-missing-{}", uuid::Uuid::new_v4().simple()),
                region: "us-east-1".to_owned(),
                path_style: true,
            })
            .await
            .unwrap(),
        );

        let result = store.get_bytes("originals/vid_1").await;

        assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}");
    }
}

/// Handlers and workers run store calls inside `tokio::spawn`, so every future must be `Send`.
#[test]
fn every_store_future_can_be_spawned() {
    fn spawnable<F: std::future::Future + Send>(_: F) {}
    let dir = TempDir::new().unwrap();
    let store = Store::Fs(FsStore::new(dir.path().to_owned()).unwrap());
    let stream = futures::stream::empty::<std::io::Result<Bytes>>();

    spawnable(store.put_file("k", dir.path(), "text/plain"));
    spawnable(store.put_bytes("k", Bytes::new(), "text/plain"));
    spawnable(store.put_stream("k", stream, "text/plain"));
    spawnable(store.get_to_file("k", dir.path()));
    spawnable(store.get_bytes("k"));
    spawnable(store.get("k", Some(ByteRange::From(0))));
    spawnable(store.head("k"));
    spawnable(store.delete("k"));
    spawnable(store.delete_prefix("k/"));
    spawnable(store.list("k/"));
}
