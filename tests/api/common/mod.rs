//! `TestApp`: the real application (the same wiring as `vitrine serve`) on a random port with a
//! fresh data dir and a fresh database, driven over real HTTP.
//!
//! (About 900 lines: one helper per endpoint the tests share, and the real components they start —
//! server processes, an SMTP server, ffprobe checks.)

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use vitrine::{Application, Config, Role};
use vitrine_api::AppState;

pub fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/media")
        .join(name)
}

/// For each `name`, a module of two tests, `name::on_sqlite` and `name::on_postgres`, that run
/// `async fn name(db: DbKind)` on each database.
#[macro_export]
macro_rules! on_each_database {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                super::$name(super::DbKind::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres() {
                super::$name(super::DbKind::Postgres).await;
            }
        }
    )*};
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A PostgreSQL database of its own for one test, on the server the test command uses.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let admin = std::env::var("VITRINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("vitrine_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// S3 settings pointing at the S3-compatible server the test command started, with a fresh
/// bucket.
pub async fn fresh_s3_bucket(config: &mut Config) {
    let endpoint = std::env::var("VITRINE_TEST_S3_ENDPOINT").expect(
        "VITRINE_TEST_S3_ENDPOINT is not set: run the tests through scripts/test.sh, which starts an S3 server",
    );
    let bucket = format!("vitrine-{}", uuid::Uuid::new_v4().simple());
    config.storage.s3.endpoint = Some(endpoint.clone());
    config.storage.s3.bucket = Some(bucket.clone());
    config.storage.s3.path_style = true;
    let store = vitrine_assets::S3Store::connect(&vitrine_assets::S3Config {
        endpoint: Some(endpoint),
        bucket,
        region: config.storage.s3.region.clone(),
        path_style: true,
    })
    .await
    .expect("connecting to the test S3 server");
    store
        .ensure_bucket()
        .await
        .expect("creating the test bucket");
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub state: AppState,
    pub shutdown: CancellationToken,
    pub ranker: vitrine_feed::Ranker,
    pub payments: vitrine_shop::payment::Payments,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Settings for tests: fast polling, short leases.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = data_dir.to_owned();
    config.server.bind = "127.0.0.1:0".into();
    config.server.web_vendor_dir = Some(web_vendor_dir());
    config.transcode.poll_interval = Duration::from_millis(100);
    config.transcode.lease = Duration::from_secs(10);
    config.transcode.retry_backoff = Duration::from_secs(1);
    config.transcode.stall_timeout = Duration::from_secs(30);
    config
}

/// The web pages' packages as `npm ci --prefix web` vendors them in this checkout.
pub fn web_vendor_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules")
}

impl TestApp {
    /// SQLite and the filesystem store: the embedded defaults.
    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        TestApp::spawn_with(config, Role::All, Some(dir)).await
    }

    pub async fn spawn_on(db: DbKind) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        if db == DbKind::Postgres {
            config.storage.database_url = Some(fresh_postgres_url().await.into());
        }
        TestApp::spawn_with(config, Role::All, Some(dir)).await
    }

    pub async fn spawn_with(config: Config, role: Role, dir: Option<tempfile::TempDir>) -> TestApp {
        vitrine::observability::init_tracing();
        let app = Application::build(&config, role)
            .await
            .expect("building the app");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let ranker = app.ranker().clone();
        let payments = app.payments().clone();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        TestApp {
            base,
            client: reqwest::Client::new(),
            config,
            state,
            shutdown,
            ranker,
            payments,
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Graceful shutdown, as on SIGTERM; returns once the app has stopped.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().expect("app stopped with an error");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An account as `vitrine account create --role R --name N` makes it (a creator has a
    /// handle, a merchant a shop, an admin is an operator). Returns `(id, token)`.
    pub async fn account(&self, role: &str, name: &str) -> (String, String) {
        let a = vitrine_identity::script::create(
            &self.state.db,
            &self.state.sessions,
            role.parse().unwrap(),
            name,
        )
        .await
        .unwrap();
        (a.id.to_string(), a.token)
    }

    /// The id of the (first) shop `token`'s account works for.
    pub async fn shop_of(&self, token: &str) -> String {
        let me = self.get_json("/v1/me", Some(token)).await;
        me["shops"][0]["shop_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no shop: {me}"))
            .to_owned()
    }

    pub async fn upload(&self, token: &str, file: &Path, title: &str) -> Response {
        let bytes = tokio::fs::read(file).await.unwrap();
        self.upload_bytes(token, bytes, "video/mp4", title).await
    }

    pub async fn upload_bytes(
        &self,
        token: &str,
        bytes: Vec<u8>,
        content_type: &str,
        title: &str,
    ) -> Response {
        self.client
            .post(self.url("/v1/videos"))
            .query(&[("title", title)])
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` (as `token`'s account, if given), expecting 200 and JSON.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let mut request = self.client.get(self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_video(&self, id: &str) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/v1/videos/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Uploads `file` and waits until it is transcoded; returns the video's id.
    pub async fn upload_ready(&self, token: &str, file: &Path, title: &str) -> String {
        let r = self.upload(token, file, title).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = id_of(r).await;
        let v = self
            .wait_for(&id, &["ready", "failed"], Duration::from_secs(180))
            .await;
        assert_eq!(v["status"], "ready", "{v}");
        id
    }

    /// Polls until the video reaches one of `statuses` (panics after `timeout`).
    pub async fn wait_for(&self, id: &str, statuses: &[&str], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.get_video(id).await;
            let status = v["status"].as_str().unwrap().to_owned();
            if statuses.contains(&status.as_str()) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "video {id} still {status} after {timeout:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A product listed by `merchant` (the body as `POST /v1/products` takes it): its JSON,
    /// after checking it was created.
    pub async fn product(&self, merchant: &str, body: Value) -> Value {
        let r = self
            .client
            .post(self.url("/v1/products"))
            .bearer_auth(merchant)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    pub async fn create_product(
        &self,
        token: &str,
        title: &str,
        amount_minor: i64,
        currency: &str,
        stock: i64,
    ) -> Response {
        self.client
            .post(self.url("/v1/products"))
            .bearer_auth(token)
            .json(&json!({"title": title, "price": {"amount_minor": amount_minor, "currency": currency}, "stock": stock}))
            .send()
            .await
            .unwrap()
    }

    pub async fn tag(
        &self,
        token: &str,
        video_id: &str,
        product_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Response {
        self.client
            .post(self.url(&format!("/v1/videos/{video_id}/tags")))
            .bearer_auth(token)
            .json(&json!({"product_id": product_id, "start_ms": start_ms, "end_ms": end_ms}))
            .send()
            .await
            .unwrap()
    }

    /// Ready clips written straight into the database (no media): for feed tests that need
    /// many clips and not their pixels. Returns their ids, newest last.
    pub async fn ready_clips(&self, creator: &str, n: usize, duration_ms: i64) -> Vec<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut ids = Vec::new();
        for i in 0..n {
            let id = vitrine_core::ids::VideoId::generate().to_string();
            sqlx::query(
                "INSERT INTO videos (id, creator_id, title, status, progress, duration_ms, \
                 source_size, source_sha256, created_at, updated_at, ready_at) \
                 VALUES ($1, $2, $3, 'ready', 1, $4, 1, $5, $6, $6, $6)",
            )
            .bind(&id)
            .bind(creator)
            .bind(format!("clip {i}"))
            .bind(duration_ms)
            .bind(format!("sha-{id}"))
            .bind(now + i as i64)
            .execute(self.state.db.pool())
            .await
            .unwrap();
            ids.push(id);
        }
        ids
    }

    /// Brings the feed's catalog up to date now (instead of within its 500 ms refresh).
    pub async fn refresh_feed(&self) {
        self.ranker
            .refresh(&self.state.db, vitrine_feed::ranker::Refresh::ALL)
            .await
            .unwrap();
    }

    /// `POST /v1/events` with `events` (a JSON array) as `token`; the 200 response's body.
    pub async fn events(&self, token: &str, events: Value) -> Value {
        let r = self
            .client
            .post(self.url("/v1/events"))
            .bearer_auth(token)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn feed(&self, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/feed?{query}")))
            .send()
            .await
            .unwrap()
    }

    pub async fn fetch(&self, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.client.get(url).send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec())
    }
}

/// The `id` of the JSON object a response carries.
pub async fn id_of(r: Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}

/// Asserts an error response: status and `{"error": {"code", "message"}}`.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without a message: {body}"
    );
    body
}

/// What ffprobe says of a file: `(width, height, duration_s, codecs)` of its streams.
pub struct Probe {
    pub video: Option<(u32, u32, String)>,
    pub audio_codec: Option<String>,
    pub duration_s: f64,
}

pub fn ffprobe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed by the test command");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .map(|s| {
            (
                s["width"].as_u64().unwrap() as u32,
                s["height"].as_u64().unwrap() as u32,
                s["codec_name"].as_str().unwrap().to_owned(),
            )
        });
    let audio_codec = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .map(|s| s["codec_name"].as_str().unwrap().to_owned());
    let duration_s = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Probe {
        video,
        audio_codec,
        duration_s,
    }
}

/// Decodes every frame of `path` with ffmpeg: proves the file is playable, not just parseable.
pub fn decodes_fully(path: &Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fetches `url` into `dir/name` and returns the path.
async fn download(
    app: &TestApp,
    url: &str,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let (status, _, bytes) = app.fetch(url).await;
    assert_eq!(status, StatusCode::OK, "GET {url}");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Resolves a playlist entry against the playlist's URL.
fn resolve(base: &str, entry: &str) -> String {
    if entry.starts_with("http") {
        entry.to_owned()
    } else {
        format!("{}/{}", base.rsplit_once('/').unwrap().0, entry)
    }
}

fn playlist_entries(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Checks every output of a ready video over HTTP, as a player would fetch them.
pub async fn assert_playable_upright(app: &TestApp, video: &Value, source: &std::path::Path) {
    let scratch = tempfile::tempdir().unwrap();
    let source_duration = ffprobe(source).duration_s;

    // The ladder the configuration asks for, planned on the source's display size.
    let rungs = vitrine_transcode::ladder::plan(
        video["width"].as_u64().unwrap() as u32,
        video["height"].as_u64().unwrap() as u32,
        &app.config.transcode.ladder,
    );
    let top = (rungs[0].width, rungs[0].height);

    // HLS: master → media playlist → a segment that decodes, upright.
    let master_url = video["playback"]["hls"].as_str().expect("hls url");
    let (status, _, master) = app.fetch(master_url).await;
    assert_eq!(status, StatusCode::OK);
    let master = String::from_utf8(master).unwrap();
    assert!(master.starts_with("#EXTM3U"), "{master}");
    for rung in &rungs {
        assert!(
            master.contains(&format!("RESOLUTION={}x{}", rung.width, rung.height)),
            "{} missing: {master}",
            rung.name
        );
    }
    assert!(master.contains("BANDWIDTH="), "{master}");
    let variants = playlist_entries(&master);
    assert_eq!(variants.len(), rungs.len(), "{master}");
    let media_url = resolve(master_url, &variants[0]);
    let (status, _, playlist) = app.fetch(&media_url).await;
    assert_eq!(status, StatusCode::OK, "GET {media_url}");
    let playlist = String::from_utf8(playlist).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let segments = playlist_entries(&playlist);
    assert!(!segments.is_empty(), "{playlist}");
    let segment = download(
        app,
        &resolve(&media_url, &segments[0]),
        scratch.path(),
        "seg0.ts",
    )
    .await;
    let seg = ffprobe(&segment);
    assert_eq!(
        seg.video.as_ref().map(|v| (v.0, v.1)),
        Some(top),
        "the top rung's segment is upright"
    );
    assert!(seg.audio_codec.is_some(), "segment keeps the audio");
    assert!(decodes_fully(&segment));

    // Progressive MP4 per rendition: upright, H.264 + AAC, same duration as the source.
    let mp4s = video["playback"]["mp4"].as_array().unwrap();
    assert_eq!(mp4s.len(), rungs.len());
    for (i, (mp4, rung)) in mp4s.iter().zip(&rungs).enumerate() {
        let (w, h) = (
            mp4["width"].as_u64().unwrap() as u32,
            mp4["height"].as_u64().unwrap() as u32,
        );
        assert_eq!((w, h), (rung.width, rung.height));
        assert!(h > w, "portrait stays portrait: {mp4}");
        let file = download(
            app,
            mp4["url"].as_str().unwrap(),
            scratch.path(),
            &format!("r{i}.mp4"),
        )
        .await;
        let probe = ffprobe(&file);
        let (pw, ph, codec) = probe.video.clone().unwrap();
        assert_eq!((pw, ph), (w, h));
        assert_eq!(codec, "h264");
        assert_eq!(probe.audio_codec.as_deref(), Some("aac"));
        assert!(
            (probe.duration_s - source_duration).abs() <= 0.1,
            "duration {} vs source {source_duration}",
            probe.duration_s
        );
        assert!(decodes_fully(&file));
        // moov before mdat: playable while it downloads.
        let bytes = std::fs::read(&file).unwrap();
        let moov = bytes.windows(4).position(|w| w == b"moov").unwrap();
        let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap();
        assert!(moov < mdat, "the index is at the front");
    }

    // Range requests work on media (players seek with them).
    let mp4_url = mp4s[0]["url"].as_str().unwrap();
    let ranged = app
        .client
        .get(mp4_url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert!(ranged.headers()["content-range"]
        .to_str()
        .unwrap()
        .starts_with("bytes 0-99/"));
    assert_eq!(ranged.bytes().await.unwrap().len(), 100);

    // Storyboard: a WebVTT thumbnails track whose cues point at tiles inside a real sprite sheet.
    let vtt_url = video["playback"]["storyboard"]
        .as_str()
        .expect("storyboard url");
    let (status, headers, vtt) = app.fetch(vtt_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/vtt"));
    let vtt = String::from_utf8(vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    let cues: Vec<&str> = vtt.lines().filter(|l| l.contains("#xywh=")).collect();
    let seconds = source_duration.ceil() as usize;
    assert!(
        (seconds.saturating_sub(1)..=seconds + 1).contains(&cues.len()),
        "about one thumbnail a second: {} for {source_duration} s",
        cues.len()
    );
    let (sprite, fragment) = cues[0].split_once('#').unwrap();
    let (status, _, sheet) = app.fetch(&resolve(vtt_url, sprite)).await;
    assert_eq!(status, StatusCode::OK);
    let sheet = image::load_from_memory_with_format(&sheet, image::ImageFormat::Jpeg).unwrap();
    for cue in &cues {
        let xywh: Vec<u32> = cue
            .split_once("#xywh=")
            .unwrap()
            .1
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(
            xywh[0] + xywh[2] <= sheet.width() && xywh[1] + xywh[3] <= sheet.height(),
            "{cue}"
        );
        assert!(
            xywh[3] > xywh[2],
            "portrait tiles for a portrait video: {cue}"
        );
    }
    assert!(fragment.starts_with("xywh=0,0,"));

    // Posters for srcset: every width in JPEG and WebP, each decoding at its stated size.
    let posters = video["playback"]["posters"].as_array().unwrap();
    assert!(posters.len() >= 3, "{posters:?}");
    assert_eq!(
        (
            posters[0]["width"].as_u64().unwrap() as u32,
            posters[0]["height"].as_u64().unwrap() as u32
        ),
        top
    );
    for poster in posters {
        let size = (
            poster["width"].as_u64().unwrap() as u32,
            poster["height"].as_u64().unwrap() as u32,
        );
        for (format, kind) in [
            ("jpeg", image::ImageFormat::Jpeg),
            ("webp", image::ImageFormat::WebP),
        ] {
            let (status, headers, bytes) = app.fetch(poster[format].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["content-type"], format!("image/{format}"));
            let img = image::load_from_memory_with_format(&bytes, kind).unwrap();
            assert_eq!((img.width(), img.height()), size);
        }
    }

    // Preview: an animated WebP, at most 320 px wide and 3 s long, moving.
    let (status, _, preview) = app
        .fetch(video["playback"]["preview"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let frames: Vec<_> = webp_animation::Decoder::new(&preview)
        .unwrap()
        .into_iter()
        .collect();
    assert!(frames.len() >= 10, "{} frames", frames.len());
    let (pw, ph) = frames[0].dimensions();
    assert!(pw <= 320 && ph > pw, "{pw}x{ph}");
    assert!(frames.last().unwrap().timestamp() <= 3000);
    assert_ne!(
        frames[0].data(),
        frames[frames.len() - 1].data(),
        "it moves"
    );

    // Poster: a real JPEG at the top rung's size.
    let (status, headers, poster) = app
        .fetch(video["playback"]["poster"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    let img = image::load_from_memory_with_format(&poster, image::ImageFormat::Jpeg)
        .expect("poster is a JPEG");
    assert_eq!((img.width(), img.height()), top);
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no server behind.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `vitrine serve` as a child process on a random port, on the embedded defaults in `data_dir`
/// (plus `env`): the process and its address, read from its start-up log line.
pub fn serve_process(data_dir: &Path, role: &str, env: &[(&str, &str)]) -> (KillOnDrop, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--role", role])
        .env("VITRINE_DATA_DIR", data_dir)
        .env("VITRINE_BIND", "127.0.0.1:0")
        .env("VITRINE_WEB_VENDOR_DIR", web_vendor_dir())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
            {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server start-up line");
    (KillOnDrop(child), addr)
}

/// A real SMTP server (aiosmtpd, `tests/smtp/server.py`) of this test's own, storing what it
/// receives in a Maildir.
pub struct SmtpServer {
    _process: KillOnDrop,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py"))
            .arg(dir.path().join("maildir"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (aiosmtpd is installed by scripts/setup.sh --test)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the SMTP server did not start: {line:?}"));
        SmtpServer {
            _process: KillOnDrop(child),
            port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, as text (headers and body).
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir/new");
        let mut files: Vec<_> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    /// Waits (up to 10 s) for a message to `to` whose body has a link to `path`; the link's
    /// `token` parameter. Messages already taken are skipped.
    pub async fn link_token(&self, to: &str, path: &str, skip: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .messages()
                .into_iter()
                // Quoted-printable soft line breaks and escapes, if the body was encoded so.
                .map(|m| {
                    m.replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=")
                })
                .filter(|m| m.contains(&format!("To: {to}")))
                .filter_map(|m| {
                    let at = m.find(&format!("{path}?token="))?;
                    let rest = &m[at + path.len() + 7..];
                    Some(
                        rest.chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect(),
                    )
                })
                .collect();
            if let Some(token) = found.into_iter().nth(skip) {
                return token;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} with a {path} link"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A real video of about `seconds` × 2 MB (lossless H.264 720x1280 with AAC), made by ffmpeg.
pub fn big_video(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join(format!("big-{seconds}s.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=720x1280:rate=30")
        .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t"])
        .arg(seconds.to_string())
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"])
        .args(["-c:a", "aac", "-shortest", "-movflags", "+faststart"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    path
}

/// A plain S3 client of the test server, for what an operator does outside Vitrine.
pub async fn s3_client(config: &Config) -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(config.storage.s3.endpoint.clone().unwrap())
        .region(aws_config::Region::new(config.storage.s3.region.clone()))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    )
}

/// A PostgreSQL server of this test's own (Debian's `initdb` and `pg_ctl`, installed by
/// `scripts/setup.sh --test`), on a free loopback port in a temporary directory, so the test may
/// stop and start it without touching the machine's server. Stopped when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .expect(
                "PostgreSQL's server binaries (scripts/setup.sh --test installs postgresql-15)",
            );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres { bin, dir, port };
        if Self::as_root() {
            // PostgreSQL refuses to run as root: its commands run as the `postgres` user.
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        pg.start_again();
        pg
    }

    fn as_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the server's tools, run as the `postgres` user when this is root (PostgreSQL
    /// refuses to run as root).
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if Self::as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server (again), and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server: `fast` (clients are disconnected, as a restart does) or `immediate`.
    pub fn stop(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.as_str(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}
