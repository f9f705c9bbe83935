//! `vitrine bench upload`: the server's memory while it receives uploads of growing size, to show
//! that it does not grow with them (bytes go to disk a piece at a time, never to memory).
//!
//! It starts this binary as `vitrine serve --role api` on a fresh data dir (so its memory is its
//! own), and for each size sends a file of random bytes three ways: tus in 8 MiB PATCHes (what
//! `vitrine upload` does), tus in one PATCH of the whole file (tus-js-client's default), and the
//! one-request `POST /v1/videos`. A thread samples the server's resident memory (`VmRSS`) every
//! 20 ms; the report is its peak per upload, the throughput, and the server's memory before.
//! The bytes are not a video, so the server refuses each file once it is in: the receiving path
//! is what is measured.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use rand::RngCore;

const MIB: u64 = 1024 * 1024;

pub fn run(sizes_mib: &[u64]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let exe = std::env::current_exe()?;
    let account = Command::new(&exe)
        .args(["account", "create", "--role", "creator", "--name", "bench"])
        .env("VITRINE_DATA_DIR", &data)
        .output()?;
    anyhow::ensure!(account.status.success(), "creating an account failed");
    let token = serde_json::from_slice::<serde_json::Value>(&account.stdout)?["token"]
        .as_str()
        .context("no token")?
        .to_owned();
    let mut server = Server::start(&exe, &data)?;
    let base = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    println!(
        "server: vitrine serve --role api (pid {}), SQLite + filesystem store",
        server.child.id()
    );
    println!(
        "idle server memory (VmRSS): {:.1} MB",
        rss_mb(server.child.id())
    );
    println!();
    println!(
        "{:>9}  {:<24} {:>9} {:>10} {:>16}",
        "size", "how", "seconds", "MB/s", "server peak RSS"
    );
    for &size in sizes_mib {
        let file = dir.path().join(format!("random-{size}.bin"));
        write_random(&file, size * MIB)?;
        for how in [How::TusPieces, How::TusOnePatch, How::OneRequest] {
            let watch = Watch::start(server.child.id());
            let started = Instant::now();
            runtime.block_on(upload(&client, &base, &token, &file, size * MIB, how))?;
            let seconds = started.elapsed().as_secs_f64();
            let peak = watch.stop().rss;
            println!(
                "{:>6} MiB {:<24} {:>9.2} {:>10.1} {:>13.1} MB",
                size,
                how.label(),
                seconds,
                size as f64 * MIB as f64 / 1e6 / seconds,
                peak
            );
        }
        std::fs::remove_file(&file)?;
    }
    server.stop();
    Ok(())
}

#[derive(Clone, Copy)]
enum How {
    TusPieces,
    TusOnePatch,
    OneRequest,
}

impl How {
    fn label(self) -> &'static str {
        match self {
            How::TusPieces => "tus, 8 MiB PATCHes",
            How::TusOnePatch => "tus, one PATCH",
            How::OneRequest => "POST /v1/videos",
        }
    }
}

async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    file: &Path,
    size: u64,
    how: How,
) -> anyhow::Result<()> {
    let body = |offset: u64, len: u64| -> anyhow::Result<reqwest::Body> {
        use std::io::Seek;
        let mut f = std::fs::File::open(file)?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        let reader = tokio::fs::File::from_std(f);
        Ok(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::with_capacity(
                tokio::io::AsyncReadExt::take(reader, len),
                256 * 1024,
            ),
        ))
    };
    if let How::OneRequest = how {
        let r = client
            .post(format!("{base}/v1/videos"))
            .bearer_auth(token)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size)
            .body(body(0, size)?)
            .send()
            .await?;
        // Refused once probed: the bytes are not a video.
        anyhow::ensure!(r.status().as_u16() == 422, "unexpected {}", r.status());
        return Ok(());
    }
    let r = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", size)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 201, "creation: {}", r.status());
    let url = r.headers()["location"].to_str()?.to_owned();
    let piece = match how {
        How::TusPieces => 8 * MIB,
        _ => size,
    };
    let mut offset = 0;
    while offset < size {
        let len = piece.min(size - offset);
        let r = client
            .patch(&url)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .header("Content-Length", len)
            .body(body(offset, len)?)
            .send()
            .await?;
        anyhow::ensure!(r.status().as_u16() == 204, "PATCH: {}", r.status());
        offset += len;
    }
    Ok(())
}

fn write_random(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rng = rand::thread_rng();
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        rng.fill_bytes(&mut block);
        let n = left.min(MIB);
        out.write_all(&block[..n as usize])?;
        left -= n;
    }
    out.flush()?;
    Ok(())
}

/// Resident memory of a process, in MB.
pub(crate) fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// Resident memory that is the process's own (heap, stacks), without mapped files such as the
/// memory-mapped database, which is the kernel's reclaimable page cache.
pub(crate) fn anon_mb(pid: u32) -> f64 {
    status_mb(pid, "RssAnon:")
}

fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb * 1024.0 / 1e6)
}

/// Peak memory seen by a `Watch`, MB.
pub(crate) struct Peak {
    pub rss: f64,
    pub anon: f64,
}

/// Samples a process's resident memory until stopped; returns the peak in MB.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    peak_anon_kb: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Watch {
    pub(crate) fn start(pid: u32) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let peak_anon_kb = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, peak_kb, peak_anon_kb) =
                (stop.clone(), peak_kb.clone(), peak_anon_kb.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let kb = (rss_mb(pid) * 1e6 / 1024.0) as u64;
                    peak_kb.fetch_max(kb, Ordering::Relaxed);
                    let kb = (anon_mb(pid) * 1e6 / 1024.0) as u64;
                    peak_anon_kb.fetch_max(kb, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Watch {
            stop,
            peak_kb,
            peak_anon_kb,
            thread,
        }
    }

    pub(crate) fn stop(self) -> Peak {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let mb = |kb: &AtomicU64| kb.load(Ordering::Relaxed) as f64 * 1024.0 / 1e6;
        Peak {
            rss: mb(&self.peak_kb),
            anon: mb(&self.peak_anon_kb),
        }
    }
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Server {
    pub(crate) fn start(exe: &Path, data: &Path) -> anyhow::Result<Server> {
        Server::start_with(exe, data, None)
    }

    /// As `start`, on the PostgreSQL database at `database` if given.
    pub(crate) fn start_with(
        exe: &Path,
        data: &Path,
        database: Option<&str>,
    ) -> anyhow::Result<Server> {
        let mut command = Command::new(exe);
        if let Some(url) = database {
            command.env("VITRINE_DATABASE_URL", url);
        }
        let mut child = command
            .args(["serve", "--role", "api"])
            .env("VITRINE_DATA_DIR", data)
            .env("VITRINE_BIND", "127.0.0.1:0")
            // The benchmarks drive one account (the seeded operator) at thousands of requests
            // a second: per-client budgets would measure the limiter, not the server.
            .env("VITRINE_RATE_LIMITS", "{enabled=false}")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("no stderr")?;
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
            .context("the server did not start")?;
        Ok(Server { child, addr })
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
