//! `vitrine upload FILE`: a small client of the public API. Uploads over tus (resumable): the
//! upload's URL is remembered in a state file until it finishes, so running the same command
//! again after a dropped network, a closed laptop or a killed process resumes where the server's
//! offset says, instead of starting over. Shows progress (bytes, rate, ETA), then follows the
//! transcode until the video is ready or failed.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use base64::Engine as _;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

/// Bytes sent per PATCH: a failed request costs at most this much again.
pub const DEFAULT_CHUNK: u64 = 8 * 1024 * 1024;
/// How long the client keeps retrying without progress (a database restarting, an API process
/// replaced behind the load balancer) before it gives up; the next run resumes anyway.
const RETRY_FOR: Duration = Duration::from_secs(120);
/// The longest pause between two tries, whatever `Retry-After` says.
const MAX_PAUSE: Duration = Duration::from_secs(15);

pub struct UploadArgs<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub file: &'a Path,
    pub title: Option<&'a str>,
    pub wait: bool,
    pub chunk: u64,
    /// Where unfinished uploads' URLs are remembered.
    pub state_file: PathBuf,
}

/// The default state file: `$XDG_STATE_HOME/vitrine/uploads.json` or
/// `~/.local/state/vitrine/uploads.json`.
pub fn default_state_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("vitrine").join("uploads.json")
}

/// Uploads and returns the final video object.
pub async fn upload(args: UploadArgs<'_>) -> anyhow::Result<Value> {
    let server = args.server.trim_end_matches('/');
    let path = args
        .file
        .canonicalize()
        .with_context(|| format!("opening {}", args.file.display()))?;
    let meta = tokio::fs::metadata(&path).await?;
    let size = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    // The same file (path, size, modification time) to the same server resumes.
    let key = format!("{server} {} {size} {modified}", path.display());
    let client = reqwest::Client::new();

    let mut remembered = Remembered::load(&args.state_file);
    let mut resumed = None;
    if let Some(url) = remembered.get(&key) {
        match head(&client, &url).await {
            Ok(Some(offset)) => resumed = Some((url, offset)),
            Ok(None) => remembered.forget(&key)?,
            Err(e) => return Err(e.context(format!("asking {url} how much it has"))),
        }
    }
    let (url, mut offset) = match resumed {
        Some((url, offset)) => {
            eprintln!(
                "resuming {} from byte {offset} of {size}",
                args.file.display()
            );
            (url, offset)
        }
        None => {
            let title = args.title.map(str::to_owned).unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "Untitled".into())
            });
            let url = create(&client, server, args.token, &path, size, &title).await?;
            remembered.remember(&key, &url)?;
            (url, 0)
        }
    };

    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{msg:9} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message("uploading");
    bar.set_position(offset);
    bar.reset_eta();
    let mut video_id = None;
    let mut retry = Retry::new();
    while offset < size {
        let len = args.chunk.max(1).min(size - offset);
        match patch(&client, &url, &path, offset, len, &bar).await {
            Ok((new_offset, id)) => {
                offset = new_offset;
                video_id = id.or(video_id);
                retry = Retry::new();
            }
            Err(e) if retry.again(&e) => {
                bar.println(format!("{:#}; retrying", e.error));
                retry.pause(e.pause).await;
                // The server may have kept part of the failed request: ask where it stands.
                match head(&client, &url).await {
                    Ok(Some(o)) => offset = o,
                    Ok(None) => bail!("the upload {url} is gone (expired or deleted)"),
                    Err(e) => bar.println(format!("{e:#}")),
                }
                bar.set_position(offset);
            }
            Err(e) => {
                let e = e.error;
                bar.abandon();
                return Err(e.context(format!(
                    "upload interrupted at byte {offset} of {size}; run the same command again to resume"
                )));
            }
        }
    }
    bar.finish_and_clear();
    remembered.forget(&key)?;
    let id = match video_id {
        Some(id) => id,
        None => video_id_of(&client, &url).await?,
    };
    eprintln!("uploaded {} as {id}", args.file.display());
    let video = get_video(&client, server, &id).await?;
    let id = video["id"].as_str().unwrap_or(&id).to_owned();
    if !args.wait {
        return Ok(video);
    }

    let bar = ProgressBar::new(1000).with_style(ProgressStyle::with_template(
        "{msg:10} [{bar:30}] {percent}% {elapsed}",
    )?);
    loop {
        let video = get_video(&client, server, &id).await?;
        let status = video["status"].as_str().unwrap_or("unknown").to_owned();
        bar.set_message(status.clone());
        bar.set_position((video["progress"].as_f64().unwrap_or(0.0) * 1000.0) as u64);
        if status == "ready" || status == "failed" {
            bar.finish_and_clear();
            return Ok(video);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A request that did not do what it asked: why, whether trying again may work (no answer, a
/// 5xx, 408, 429, or a tus offset conflict), and how long the server asked to wait first.
struct Failure {
    error: anyhow::Error,
    retryable: bool,
    pause: Option<Duration>,
}

impl Failure {
    /// No answer at all (refused, cut, timed out): worth trying again.
    fn unanswered(error: reqwest::Error, what: &str) -> Failure {
        Failure {
            error: anyhow::Error::new(error).context(what.to_owned()),
            retryable: true,
            pause: None,
        }
    }

    /// An answer that is not the one expected.
    async fn answer(response: reqwest::Response) -> Failure {
        let status = response.status();
        let pause = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let retryable =
            status.is_server_error() || matches!(status.as_u16(), 408 | 409 | 423 | 429);
        let error = match json_or_error(response).await {
            Err(e) => e,
            Ok(_) => anyhow::anyhow!("the server answered {status}"),
        };
        Failure {
            error,
            retryable,
            pause,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            error,
            retryable: false,
            pause: None,
        }
    }
}

/// Tries without progress, for at most `RETRY_FOR`.
struct Retry {
    since: Instant,
    backoff: Duration,
}

impl Retry {
    fn new() -> Retry {
        Retry {
            since: Instant::now(),
            backoff: Duration::from_millis(500),
        }
    }

    /// Whether to try again after `failure` (not when the server asks for more patience than
    /// the client has: a quota spent for the day).
    fn again(&self, failure: &Failure) -> bool {
        failure.retryable
            && failure.pause.is_none_or(|p| p <= RETRY_FOR)
            && self.since.elapsed() < RETRY_FOR
    }

    /// Waits as long as the server asked (`Retry-After`), else a doubling backoff.
    async fn pause(&mut self, asked: Option<Duration>) {
        let wait = asked.unwrap_or(self.backoff).min(MAX_PAUSE);
        self.backoff = (self.backoff * 2).min(MAX_PAUSE);
        tokio::time::sleep(wait).await;
    }
}

/// `request` until it succeeds or fails for good (see `Retry`).
async fn retrying<T, F, Fut>(mut request: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut retry = Retry::new();
    loop {
        match request().await {
            Ok(done) => return Ok(done),
            Err(failure) if retry.again(&failure) => {
                eprintln!("{:#}; retrying", failure.error);
                retry.pause(failure.pause).await;
            }
            Err(failure) => return Err(failure.error),
        }
    }
}

async fn get_video(client: &reqwest::Client, server: &str, id: &str) -> anyhow::Result<Value> {
    retrying(|| async {
        let url = format!("{server}/v1/videos/{id}");
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| Failure::unanswered(e, &url))?;
        if !response.status().is_success() {
            return Err(Failure::answer(response).await);
        }
        Ok(json_or_error(response).await?)
    })
    .await
}

/// tus creation: returns the upload's URL.
async fn create(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    path: &Path,
    size: u64,
    title: &str,
) -> anyhow::Result<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A create whose answer was lost may leave an upload nobody resumes; it expires unfinished.
    retrying(|| async {
        let response = client
            .post(format!("{server}/v1/uploads"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", size)
            .header(
                "Upload-Metadata",
                format!("filename {},title {}", b64(&filename), b64(title)),
            )
            .send()
            .await
            .map_err(|e| Failure::unanswered(e, &format!("sending to {server}")))?;
        if response.status() != StatusCode::CREATED {
            return Err(Failure::answer(response).await);
        }
        Ok(response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("the server sent no upload URL")?
            .to_owned())
    })
    .await
}

/// The upload's offset, or `None` if the server no longer has it.
async fn head(client: &reqwest::Client, url: &str) -> anyhow::Result<Option<u64>> {
    let Some(headers) = tus_head(client, url).await? else {
        return Ok(None);
    };
    Ok(Some(
        headers
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .context("no Upload-Offset in the server's answer")?,
    ))
}

async fn video_id_of(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let headers = tus_head(client, url)
        .await?
        .context("the upload is gone (expired or deleted)")?;
    Ok(headers
        .get("video-id")
        .and_then(|v| v.to_str().ok())
        .context("the upload names no video")?
        .to_owned())
}

/// The headers of the upload's HEAD, or `None` if the server no longer has it.
async fn tus_head(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<Option<reqwest::header::HeaderMap>> {
    retrying(|| async {
        let response = client
            .head(url)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .map_err(|e| Failure::unanswered(e, url))?;
        match response.status() {
            StatusCode::OK => Ok(Some(response.headers().clone())),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
            _ => Err(Failure::answer(response).await),
        }
    })
    .await
}

/// Sends `len` bytes of the file from `offset`: returns the new offset and the video id.
async fn patch(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    offset: u64,
    len: u64,
    bar: &ProgressBar,
) -> Result<(u64, Option<String>), Failure> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    let counted = {
        let bar = bar.clone();
        ReaderStream::with_capacity(file.take(len), 256 * 1024).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                bar.inc(chunk.len() as u64);
            }
        })
    };
    let response = client
        .patch(url)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset)
        .header("Content-Length", len)
        .body(reqwest::Body::wrap_stream(counted))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            bar.set_position(offset);
            return Err(Failure::unanswered(e, "sending bytes"));
        }
    };
    if response.status() != StatusCode::NO_CONTENT {
        bar.set_position(offset);
        return Err(Failure::answer(response).await);
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let new_offset = header("upload-offset")
        .and_then(|v| v.parse().ok())
        .context("no Upload-Offset in the server's answer")?;
    bar.set_position(new_offset);
    Ok((new_offset, header("video-id")))
}

/// Unfinished uploads' URLs by file, in a small JSON file.
struct Remembered {
    path: PathBuf,
    entries: BTreeMap<String, String>,
}

impl Remembered {
    fn load(path: &Path) -> Remembered {
        let entries = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Remembered {
            path: path.to_owned(),
            entries,
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.entries.get(key).cloned()
    }

    fn remember(&mut self, key: &str, url: &str) -> anyhow::Result<()> {
        self.entries.insert(key.to_owned(), url.to_owned());
        self.save()
    }

    fn forget(&mut self, key: &str) -> anyhow::Result<()> {
        if self.entries.remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let temp = self.path.with_extension("json.tmp");
        std::fs::write(&temp, serde_json::to_vec_pretty(&self.entries)?)?;
        std::fs::rename(&temp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

async fn json_or_error(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("reading the server's answer")?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("unknown error");
        let code = body["error"]["code"].as_str().unwrap_or("error");
        bail!("server answered {status}: {code}: {message}");
    }
    Ok(body)
}
