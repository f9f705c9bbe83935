//! `vitrine bench feed`: the feed under load on this machine.
//!
//! 1. `vitrine seed` builds the platform (default: 100,000 clips, 20,000 viewers, 2,000,000
//!    events already applied) in a data dir that later runs reuse.
//! 2. This binary is started as `vitrine serve --role api` on it.
//! 3. Event ingest: concurrent clients post batches of 1000 new events over HTTP; events/s.
//! 4. Feed: `oha` (a load generator we did not write) asks `GET /v1/feed` for random seeded
//!    viewers at a fixed rate, first for an unmeasured warm-up, then for the given time; latency
//!    percentiles, errors, achieved rate.
//! 5. The server's memory idle and at its peak during the run: its own (`RssAnon`: heap,
//!    stacks) and everything resident (`VmRSS`, which also counts the memory-mapped database).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use crate::bench_upload::{anon_mb, rss_mb, Server, Watch};

#[derive(Debug, Clone, clap::Args)]
pub struct FeedBenchArgs {
    #[command(flatten)]
    pub seed: crate::seed::SeedArgs,
    /// Feed requests per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds of feed load.
    #[arg(long, default_value_t = 60)]
    pub seconds: u32,
    /// Seconds of unmeasured feed load at the same rate first.
    #[arg(long, default_value_t = 15)]
    pub warmup: u32,
    /// Events posted over HTTP for the ingest figure (enough for ~25 s, so that folding the
    /// clip counts every 2 s is part of the figure).
    #[arg(long, default_value_t = 1_000_000)]
    pub ingest_events: usize,
    /// Where the seeded platform lives (reused when it was seeded with the same settings).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

fn oha() -> anyhow::Result<PathBuf> {
    let candidates = [
        Some(PathBuf::from("oha")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/oha")),
    ];
    for c in candidates.into_iter().flatten() {
        if Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(c);
        }
    }
    anyhow::bail!("oha (the load generator) is not installed: `cargo install oha --locked`")
}

/// A regex matching ids of seeded viewers `0..n` for some `n ≤ viewers` (oha draws URLs from it).
fn viewer_regex(viewers: usize) -> String {
    let (lead, k) = viewer_range(viewers);
    format!(
        "acc_0{{{}}}[0-{:x}][0-9a-f]{{{}}}",
        31 - k as usize,
        lead,
        k
    )
}

/// The feed load's viewers are the first `(lead + 1) × 16^k` seeded ones (a range a regex can
/// draw from): `(lead, k)`.
fn viewer_range(viewers: usize) -> (usize, u32) {
    let mut k = 0;
    while 16usize.pow(k + 1) <= viewers {
        k += 1;
    }
    ((viewers / 16usize.pow(k)).clamp(1, 16) - 1, k)
}

/// The viewers the ingest phase posts for: those the feed load does not draw (16,384–19,999 of
/// 20,000), so that the feed figures of every run measure the seeded platform, not the
/// thousands of events earlier runs' ingest added to some viewers. All of them when the feed
/// load draws every viewer.
fn ingest_viewers(viewers: usize) -> std::ops::Range<usize> {
    let (lead, k) = viewer_range(viewers);
    let drawn = (lead + 1) * 16usize.pow(k);
    if drawn < viewers {
        drawn..viewers
    } else {
        0..viewers
    }
}

fn seed_if_needed(exe: &Path, dir: &Path, args: &crate::seed::SeedArgs) -> anyhow::Result<()> {
    let marker = dir.join("seeded.json");
    // `identity`: seeds from before accounts had sessions and shops are made again.
    let wanted = json!({"videos": args.videos, "viewers": args.viewers, "events": args.events,
                        "seed": args.seed, "identity": 1});
    if std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v == wanted)
    {
        println!("reusing the seeded platform in {}", dir.display());
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    println!("seeding {} (once; later runs reuse it)…", dir.display());
    let status = Command::new(exe)
        .args([
            "seed",
            "--videos",
            &args.videos.to_string(),
            "--viewers",
            &args.viewers.to_string(),
            "--events",
            &args.events.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .env("VITRINE_DATA_DIR", dir)
        .env("VITRINE_BIND", "127.0.0.1:0")
        .status()?;
    anyhow::ensure!(status.success(), "vitrine seed failed");
    std::fs::write(&marker, serde_json::to_vec(&wanted)?)?;
    Ok(())
}

pub fn run(args: FeedBenchArgs) -> anyhow::Result<()> {
    let oha = oha()?;
    let exe = std::env::current_exe()?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("vitrine-bench-feed"));
    seed_if_needed(&exe, &dir, &args.seed)?;
    // Seeded sessions expire like anyone's: start their lifetime again for this run.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let db =
                vitrine_core::db::Db::connect(&vitrine_core::db::Db::sqlite_url_in(&dir)).await?;
            crate::seed::renew_sessions(&db).await?;
            db.close().await;
            anyhow::Ok(())
        })?;

    let started = Instant::now();
    let mut server = Server::start(&exe, &dir)?;
    let pid = server.child.id();
    let base = format!("http://{}", server.addr);
    println!(
        "server: vitrine serve --role api (pid {pid}), SQLite + filesystem store; catalog loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (idle, idle_anon) = (rss_mb(pid), anon_mb(pid));
    println!(
        "server memory after start: {idle_anon:.0} MB own (RssAnon), {idle:.0} MB resident \
         with the mapped database (VmRSS)"
    );

    // Event ingest over HTTP.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let watch = Watch::start(pid);
    let (events, seconds, folded) = runtime.block_on(async {
        let (events, seconds) = ingest(&base, &args).await?;
        let folded = wait_for_fold(&dir).await?;
        anyhow::Ok((events, seconds, folded))
    })?;
    let ingest_peak = watch.stop();
    let ingest_rate = events as f64 / seconds;
    println!(
        "event ingest: {events} events in {seconds:.1} s = {ingest_rate:.0} events/s \
         (8 clients, batches of 1000; goal ≥ 20,000: {:.2}×)",
        ingest_rate / 20_000.0
    );
    let with_fold = events as f64 / (seconds + folded);
    println!(
        "  clip counts all folded {folded:.1} s after the last batch; counting that, \
         {with_fold:.0} events/s ({:.2}×)",
        with_fold / 20_000.0
    );

    // Feed load: the seeded operator asks for each drawn viewer's feed (`?viewer=` is refused
    // to anyone else but that viewer).
    let url = format!(
        "http://{}/v1/feed\\?limit=10&viewer={}",
        // (oha's URL regex takes '.' literally; '?' must be escaped.)
        server.addr,
        viewer_regex(args.seed.viewers)
    );
    // A server that just started reads its database from disk and faults in its memory map;
    // production servers are warm. The warm-up runs at the same rate and is not measured.
    if args.warmup > 0 {
        println!(
            "warming up: {} s at {} req/s (not measured)",
            args.warmup, args.rate
        );
        run_oha(&oha, &url, args.rate, args.warmup)?;
    }
    let watch = Watch::start(pid);
    let output = run_oha(&oha, &url, args.rate, args.seconds);
    let feed_peak = watch.stop();
    let output = output?;
    let report: Value = serde_json::from_slice(&output.stdout).context("reading oha's JSON")?;
    let ms = |v: &Value| v.as_f64().unwrap_or(f64::NAN) * 1000.0;
    let p = &report["latencyPercentiles"];
    let summary = &report["summary"];
    let statuses = &report["statusCodeDistribution"];
    let ok = statuses["200"].as_u64().unwrap_or(0);
    let total: u64 = statuses
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let errors = report["errorDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
        .unwrap_or(0);
    println!(
        "GET /v1/feed: {} s at {} req/s (oha, 64 connections, random seeded viewers, limit=10)",
        args.seconds, args.rate
    );
    println!(
        "  achieved {:.0} req/s; {ok} × 200 of {total} responses, {} other statuses, {errors} connection errors",
        summary["requestsPerSec"].as_f64().unwrap_or(0.0),
        total - ok
    );
    println!(
        "  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms \
         (goal p99 ≤ 15 ms: {:.2}×)",
        ms(&p["p50"]),
        ms(&p["p90"]),
        ms(&p["p99"]),
        ms(&p["p99.9"]),
        ms(&summary["slowest"]),
        ms(&p["p99"]) / 15.0
    );
    println!(
        "server memory, own (RssAnon): {idle_anon:.0} MB after start, peak {:.0} MB during \
         ingest, peak {:.0} MB during the feed load",
        ingest_peak.anon, feed_peak.anon
    );
    println!(
        "server memory, resident with the mapped database (VmRSS): {idle:.0} MB after start, \
         peak {:.0} MB during ingest, peak {:.0} MB during the feed load",
        ingest_peak.rss, feed_peak.rss
    );
    server.stop();
    Ok(())
}

/// Seconds until the server has folded every queued batch's clip counts (`feed_count_deltas`
/// empty): ingest is not done before its counts are in the clips' rows.
async fn wait_for_fold(dir: &Path) -> anyhow::Result<f64> {
    let db = vitrine_core::db::Db::connect(&vitrine_core::db::Db::sqlite_url_in(dir)).await?;
    let started = Instant::now();
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_count_deltas")
            .fetch_one(db.pool())
            .await?;
        if queued == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "{queued} batches still queued after 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `oha` at a fixed `rate` for `seconds` against URLs drawn from `url` (a regex); its output.
fn run_oha(oha: &Path, url: &str, rate: u32, seconds: u32) -> anyhow::Result<std::process::Output> {
    let output = Command::new(oha)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", crate::seed::operator().1),
            "--no-tui",
            "--output-format",
            "json",
            "-z",
            &format!("{seconds}s"),
            "-q",
            &rate.to_string(),
            "--latency-correction",
            // Requests still in flight when the time is up finish and count (oha otherwise
            // reports each of them as a connection error).
            "--wait-ongoing-requests-after-deadline",
            "-c",
            "64",
            "--rand-regex-url",
            url,
        ])
        .output()
        .context("running oha")?;
    anyhow::ensure!(
        output.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

async fn ingest(base: &str, args: &FeedBenchArgs) -> anyhow::Result<(usize, f64)> {
    const CLIENTS: usize = 8;
    const BATCH: usize = 1000;
    let batches = args.ingest_events.div_ceil(BATCH);
    let viewers = ingest_viewers(args.seed.viewers);
    let videos = args.seed.videos;
    // Fresh ids every run: a rerun on the same data measures new events, not duplicates.
    let run = vitrine_core::time::now_ms();
    // Every request body is made before the clock starts, as a load generator's are: on this
    // two-core machine, serialising 1,000 events per request while measuring would take CPU
    // from the server being measured.
    let mut rng = StdRng::seed_from_u64(1000);
    let bodies: Vec<(usize, bytes::Bytes)> = (0..batches)
        .map(|b| {
            // A different stretch of them every run.
            let v = viewers.start + (b + run as usize / 1000) % viewers.len();
            let viewer = crate::seed::viewer_id(v);
            let events: Vec<Value> = (0..BATCH)
                .map(|i| {
                    let clip = rng.gen_range(0..videos);
                    let kind = match rng.gen_range(0..10) {
                        0..=5 => "impression",
                        6 | 7 => "progress",
                        8 => "complete",
                        _ => "like",
                    };
                    json!({"id": format!("bench-{run}-{b}-{i}"), "viewer_id": viewer,
                           "video_id": format!("vid_{clip:032x}"), "type": kind,
                           "watch_ms": 4000})
                })
                .collect();
            let body = serde_json::to_vec(&json!({ "events": events })).expect("JSON");
            (v, bytes::Bytes::from(body))
        })
        .collect();
    let bodies = std::sync::Arc::new(bodies);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let retries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let base = base.to_owned();
        let retries = retries.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for (v, body) in bodies.iter().skip(c).step_by(CLIENTS) {
                // A busy server answers 503 with Retry-After; a client retries, as phones do.
                let r = loop {
                    let r = client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(format!("vt_seed_viewer_{v}"))
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await?;
                    if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                        break r;
                    }
                    retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                };
                anyhow::ensure!(r.status().is_success(), "events: {}", r.status());
                let body: Value = r.json().await?;
                accepted += body["accepted"].as_u64().unwrap_or(0) as usize
                    + body["duplicates"].as_u64().unwrap_or(0) as usize;
            }
            Ok::<usize, anyhow::Error>(accepted)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let retries = retries.load(std::sync::atomic::Ordering::Relaxed);
    if retries > 0 {
        println!("  ({retries} batches were answered 503 busy and retried)");
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_and_ingest_viewers_are_seeded_ones() {
        assert_eq!(viewer_regex(20_000), "acc_0{28}[0-3][0-9a-f]{3}");
        assert_eq!(viewer_regex(16), "acc_0{30}[0-0][0-9a-f]{1}");
        assert_eq!(ingest_viewers(20_000), 16_384..20_000);
        assert_eq!(ingest_viewers(16), 0..16);
        assert_eq!(viewer_regex(5), "acc_0{31}[0-4][0-9a-f]{0}");
        assert_eq!(crate::seed::viewer_id(0).len(), 36);
    }
}
