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
    /// Feed requests per second (also the rate of the busy-core phase).
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// A second phase at this many requests per second (0: none).
    #[arg(long, default_value_t = 2000)]
    pub high_rate: u32,
    /// A third phase at `--rate` while another process keeps one core busy.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub busy: bool,
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
    /// A PostgreSQL database to seed and serve from instead of SQLite in the data dir
    /// (`postgres://…`). It is emptied when it has to be seeded again: give it one of its own.
    #[arg(long)]
    pub database: Option<String>,
    /// Serve with this `vitrine` binary instead of this one (to measure another build, e.g.
    /// the one before a change, with the same load).
    #[arg(long)]
    pub server_exe: Option<PathBuf>,
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

fn seed_if_needed(
    exe: &Path,
    dir: &Path,
    args: &crate::seed::SeedArgs,
    database: Option<&str>,
) -> anyhow::Result<()> {
    let marker = dir.join("seeded.json");
    // `identity`: seeds from before accounts had sessions and shops are made again.
    let wanted = json!({"videos": args.videos, "viewers": args.viewers, "events": args.events,
                        "seed": args.seed, "identity": 1,
                        "database": database.map(vitrine_core::db::redact)});
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
    if let Some(url) = database {
        empty_database(url)?;
    }
    println!("seeding {} (once; later runs reuse it)…", dir.display());
    let mut seed = Command::new(exe);
    if let Some(url) = database {
        seed.env("VITRINE_DATABASE_URL", url);
    }
    let status = seed
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
    let server_exe = args.server_exe.clone().unwrap_or_else(|| exe.clone());
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("vitrine-bench-feed"));
    let database = args.database.clone();
    seed_if_needed(&exe, &dir, &args.seed, database.as_deref())?;
    let db_url = database
        .clone()
        .unwrap_or_else(|| vitrine_core::db::Db::sqlite_url_in(&dir));
    // Seeded sessions expire like anyone's: start their lifetime again for this run.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let db = vitrine_core::db::Db::connect(&db_url).await?;
            crate::seed::renew_sessions(&db).await?;
            db.close().await;
            anyhow::Ok(())
        })?;

    let started = Instant::now();
    let mut server = Server::start_with(&server_exe, &dir, database.as_deref())?;
    let pid = server.child.id();
    let base = format!("http://{}", server.addr);
    let backend = if database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "server: {} serve --role api (pid {pid}), {backend} + filesystem store; catalog loaded in {:.1} s",
        server_exe.display(),
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
    let postgres = database.is_some();
    let cpu_before = Cpu::read(pid, postgres);
    let (ingested, seconds, folded) = runtime.block_on(async {
        let ingested = ingest(&base, &args).await?;
        let folded = wait_for_fold(&db_url).await?;
        // What the batches set off after the fold (the catalog's rebuild, the checkpoint of
        // their write-ahead log) is theirs too, and would otherwise land on the heavy pages.
        settle(pid, postgres).await;
        let seconds = ingested.seconds;
        anyhow::Ok((ingested, seconds, folded))
    })?;
    let ingest = Cpu::read(pid, postgres).since(cpu_before);
    let ingest_cpu = ingest.server;
    let ingest_peak = watch.stop();
    let events = ingested.events;
    let ingest_rate = events as f64 / seconds;
    println!(
        "event ingest: {events} events in {seconds:.1} s = {ingest_rate:.0} events/s \
         (8 clients, batches of 1000; goal ≥ 40,000: {:.2}×)",
        ingest_rate / 40_000.0
    );
    let with_fold = events as f64 / (seconds + folded);
    println!(
        "  clip counts all folded {folded:.1} s after the last batch; counting that, \
         {with_fold:.0} events/s ({:.2}×)",
        with_fold / 40_000.0
    );
    let per_event_us = ingest_cpu / events.max(1) as f64 * 1e6;
    println!(
        "server CPU per event: {per_event_us:.1} µs ({ingest_cpu:.1} s of CPU, the fold and \
         what follows it included; goal ≤ 15 µs: {:.2}×)",
        per_event_us / 15.0
    );
    ingest.print_database("event", events as u64, 1e6, "µs");

    // A heavy viewer's first page: each viewer the ingest just gave ~1,000 events, once.
    let heavy = runtime.block_on(heavy_first_pages(&base, pid, postgres, &ingested.viewers))?;
    if let Some(h) = heavy {
        println!(
            "heavy viewers' first pages: {} viewers (~{} events each), one page each in turn: \
             p50 {:.2} ms, max {:.2} ms",
            h.pages, h.events_each, h.p50_ms, h.max_ms
        );
        let per_page_ms = h.cpu.server / h.pages as f64 * 1e3;
        println!(
            "server CPU per heavy viewer's first page: {per_page_ms:.2} ms (goal ≤ 1 ms: \
             {per_page_ms:.2}×)"
        );
        h.cpu
            .print_database("heavy viewer's first page", h.pages as u64, 1e3, "ms");
    }

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
    let mut phases = vec![(args.rate, false)];
    if args.high_rate > 0 {
        phases.push((args.high_rate, false));
    }
    if args.busy {
        phases.push((args.rate, true));
    }
    let mut feed_peak = 0.0f64;
    let mut feed_peak_rss = 0.0f64;
    for (rate, busy) in phases {
        let burner = busy.then(Burner::start).transpose()?;
        let watch = Watch::start(pid);
        let cpu_before = Cpu::read(pid, postgres);
        let output = run_oha(&oha, &url, rate, args.seconds);
        let cpu = Cpu::read(pid, postgres).since(cpu_before);
        let peak = watch.stop();
        drop(burner);
        feed_peak = feed_peak.max(peak.anon);
        feed_peak_rss = feed_peak_rss.max(peak.rss);
        report_feed(&output?, rate, busy, args.seconds, cpu)?;
    }
    println!(
        "server memory, own (RssAnon): {idle_anon:.0} MB after start, peak {:.0} MB during \
         ingest, peak {feed_peak:.0} MB during the feed load",
        ingest_peak.anon
    );
    println!(
        "server memory, resident with the mapped database (VmRSS): {idle:.0} MB after start, \
         peak {:.0} MB during ingest, peak {feed_peak_rss:.0} MB during the feed load",
        ingest_peak.rss
    );
    server.stop();
    Ok(())
}

/// Prints one feed phase's figures from oha's JSON report.
fn report_feed(
    output: &std::process::Output,
    rate: u32,
    busy: bool,
    seconds: u32,
    cpu_used: Cpu,
) -> anyhow::Result<()> {
    let cpu = cpu_used.server;
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
    let load = if busy {
        ", while another process burns one core"
    } else {
        ""
    };
    println!(
        "GET /v1/feed: {seconds} s at {rate} req/s{load} (oha, 64 connections, random seeded \
         viewers, limit=10)"
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
    let per_page = cpu / ok.max(1) as f64 * 1e3;
    println!(
        "  server CPU per feed page: {per_page:.3} ms ({cpu:.1} s of CPU; goal ≤ 0.3 ms: {:.2}×)",
        per_page / 0.3
    );
    cpu_used.print_database("feed page", ok, 1e3, "ms");
    Ok(())
}

/// CPU time every PostgreSQL process on this machine has used so far, in seconds (the server's
/// queries run there, not in the server's process).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_seconds)
        .filter(|s| s.is_finite())
        .sum()
}

/// The server's CPU time and, when it runs on PostgreSQL, the database's, in seconds.
#[derive(Clone, Copy)]
struct Cpu {
    server: f64,
    database: Option<f64>,
}

impl Cpu {
    fn read(pid: u32, postgres: bool) -> Cpu {
        Cpu {
            server: cpu_seconds(pid),
            database: postgres.then(postgres_cpu_seconds),
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            server: self.server - before.server,
            database: self.database.zip(before.database).map(|(a, b)| a - b),
        }
    }

    /// `  PostgreSQL's own CPU per …` for `work` units, in `unit` (`1e3`: ms, `1e6`: µs).
    fn print_database(self, per: &str, work: u64, scale: f64, unit: &str) {
        if let Some(db) = self.database {
            println!(
                "  PostgreSQL's own CPU per {per}: {:.3} {unit} ({db:.1} s of CPU, all its processes)",
                db / work.max(1) as f64 * scale
            );
        }
    }
}

/// CPU time (user + system, all threads) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces, inside parentheses).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// A second process that keeps one core busy until dropped (a busy loop in `sh`).
struct Burner(std::process::Child);

impl Burner {
    fn start() -> anyhow::Result<Burner> {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .context("starting the busy loop")?;
        Ok(Burner(child))
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Heavy {
    pages: usize,
    events_each: usize,
    p50_ms: f64,
    max_ms: f64,
    cpu: Cpu,
}

/// Each of `viewers`' first page, one after another, as the seeded operator: the server reads
/// each one's state (a thousand clips seen or more) once. Their server CPU per page.
async fn heavy_first_pages(
    base: &str,
    pid: u32,
    postgres: bool,
    viewers: &[(usize, usize)],
) -> anyhow::Result<Option<Heavy>> {
    if viewers.is_empty() {
        return Ok(None);
    }
    let client = reqwest::Client::new();
    let token = crate::seed::operator().1;
    let get = |v: usize| {
        client
            .get(format!(
                "{base}/v1/feed?limit=10&viewer={}",
                crate::seed::viewer_id(v)
            ))
            .bearer_auth(token)
            .send()
    };
    // One request first, so that the connection and the caller are set up.
    get(viewers[0].0).await?.error_for_status()?;
    let mut times = Vec::with_capacity(viewers.len());
    let cpu_before = Cpu::read(pid, postgres);
    for &(v, _) in &viewers[1..] {
        let started = Instant::now();
        let r = get(v).await?;
        anyhow::ensure!(r.status().is_success(), "feed: {}", r.status());
        r.bytes().await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = Cpu::read(pid, postgres).since(cpu_before);
    let pages = times.len().max(1);
    times.sort_by(f64::total_cmp);
    Ok(Some(Heavy {
        pages,
        events_each: viewers.iter().map(|&(_, n)| n).sum::<usize>() / viewers.len(),
        p50_ms: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        max_ms: times.last().copied().unwrap_or(f64::NAN),
        cpu,
    }))
}

/// Drops everything in the PostgreSQL database at `url`, to seed it again.
fn empty_database(url: &str) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let db = vitrine_core::db::Db::connect(url).await?;
            anyhow::ensure!(
                db.backend() == vitrine_core::db::Backend::Postgres,
                "--database takes a postgres:// URL"
            );
            for statement in ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"] {
                sqlx::query(statement).execute(db.pool()).await?;
            }
            db.close().await;
            anyhow::Ok(())
        })
}

/// Seconds until the server has folded every queued batch's clip counts (`feed_count_deltas`
/// empty): ingest is not done before its counts are in the clips' rows.
async fn wait_for_fold(url: &str) -> anyhow::Result<f64> {
    let db = vitrine_core::db::Db::connect(url).await?;
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

/// Waits (at most 30 s) until the server, and PostgreSQL when it runs on it, are idle: under
/// 5 % of a core each over half a second.
async fn settle(pid: u32, postgres: bool) {
    let started = Instant::now();
    let mut before = Cpu::read(pid, postgres);
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = Cpu::read(pid, postgres);
        let used = now.since(before);
        if used.server < 0.025 && used.database.is_none_or(|d| d < 0.025) {
            return;
        }
        before = now;
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

/// What the ingest phase did.
struct Ingested {
    /// Events accepted (or found already there).
    events: usize,
    seconds: f64,
    /// The viewers posted for, with how many events each.
    viewers: Vec<(usize, usize)>,
}

async fn ingest(base: &str, args: &FeedBenchArgs) -> anyhow::Result<Ingested> {
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
    let mut per_viewer: std::collections::BTreeMap<usize, usize> = Default::default();
    for (v, _) in &bodies {
        *per_viewer.entry(*v).or_default() += BATCH;
    }
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
    Ok(Ingested {
        events: total,
        seconds: started.elapsed().as_secs_f64(),
        viewers: per_viewer.into_iter().collect(),
    })
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
