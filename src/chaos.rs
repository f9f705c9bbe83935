//! `vitrine chaos`: a mixed workload driven through a running cluster (`scripts/cluster.sh up`)
//! from several clients at once, while faults are injected one after another at random moments;
//! then checks, through the public API, the database and the bucket, that nothing was lost or
//! done twice. `scripts/chaos.sh` starts the cluster, runs this and stops the cluster.
//!
//! The workload: tus uploads of the real clips `../shared/media/MANIFEST.tsv` expects to become
//! ready (small PATCHes, resuming from the server's offset after any error, as tus-js-client
//! does), orders with idempotency keys on products with little stock (retried with the same key
//! after any error), feed pages and events. The faults, each logged with its window: a worker
//! killed (-9) while it holds a transcode's lease, an API process killed (-9) while uploads are
//! sending, one Garage node stopped for a while, PostgreSQL restarted (fast shutdown, start).
//! A client-visible failure is expected only inside a fault's window, and only as a retryable
//! answer: 502/503/504 with `Retry-After`, or no answer at all (a connection cut by a kill).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// The cluster's directory (what `scripts/cluster.sh up` made).
    #[arg(long, default_value = "target/cluster")]
    pub cluster_dir: PathBuf,
    /// Seconds of workload; the faults are spread over them.
    #[arg(long, default_value_t = 480)]
    pub seconds: u64,
    /// How long the Garage node stays down.
    #[arg(long, default_value_t = 60)]
    pub storage_down_seconds: u64,
    /// Where the real clips are (their MANIFEST.tsv says which become ready).
    #[arg(long, default_value = "../shared/media")]
    pub media: PathBuf,
    /// Where the summary is written as JSON.
    #[arg(long, default_value = "target/chaos/summary.json")]
    pub out: PathBuf,
    /// Seed of the fault schedule and the workload's choices.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The cluster, as `cluster.env` describes it, and the script that starts and stops its parts.
struct Cluster {
    env: HashMap<String, String>,
    dir: PathBuf,
    script: PathBuf,
}

impl Cluster {
    fn load(dir: &Path) -> anyhow::Result<Cluster> {
        let file = dir.join("cluster.env");
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "reading {} (start the cluster: scripts/cluster.sh up)",
                file.display()
            )
        })?;
        let env = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Cluster {
            env,
            dir: dir.to_owned(),
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh"),
        })
    }

    fn get(&self, key: &str) -> anyhow::Result<&str> {
        self.env
            .get(key)
            .map(String::as_str)
            .with_context(|| format!("{key} is missing from cluster.env"))
    }

    /// `scripts/cluster.sh ACTION PART` (start, stop, kill), off the runtime's threads.
    async fn part(&self, action: &str, part: &str) -> anyhow::Result<()> {
        let mut command = Command::new(&self.script);
        command
            .args([action, part])
            .env("VITRINE_CLUSTER_DIR", &self.dir);
        let (action, part) = (action.to_owned(), part.to_owned());
        let status = tokio::task::spawn_blocking(move || command.status()).await??;
        anyhow::ensure!(status.success(), "cluster.sh {action} {part} failed");
        Ok(())
    }

    fn pid(&self, part: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("pids").join(part))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// What the workload saw: how many requests it sent, and each one answered 5xx or not at all.
#[derive(Default)]
struct Answers {
    sent: std::sync::atomic::AtomicUsize,
    failures: Mutex<Vec<Failure>>,
}

/// A request answered 5xx, or not at all.
#[derive(Debug, Clone, Serialize)]
struct Failure {
    at_s: f64,
    status: u16,
    retry_after: bool,
    request: String,
}

/// One injected fault and the window in which failures are expected from it.
#[derive(Debug, Clone, Serialize)]
struct Fault {
    name: String,
    started_s: f64,
    ended_s: f64,
    /// Seconds from the fault's end until the API answered a read with 200 again.
    recovered_after_s: Option<f64>,
    /// The video whose transcode the fault hit, and how its job ended: attempts and status.
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<String>,
}

/// Slack after a fault's end during which its failures may still be seen (health checks take
/// a process back after 2 s; a client's request may have started before).
const FAULT_TAIL_S: f64 = 10.0;

struct Ctx {
    api: String,
    client: reqwest::Client,
    started: Instant,
    answers: Answers,
    stop: tokio_util::sync::CancellationToken,
}

impl Ctx {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Sends a request and records its answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> Option<reqwest::Response> {
        let described = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| format!("{} {}", r.method(), r.url().path()))
            .unwrap_or_default();
        let (response, status, retry_after) =
            match request.timeout(Duration::from_secs(60)).send().await {
                Ok(r) => {
                    let (status, retry_after) =
                        (r.status().as_u16(), r.headers().contains_key("retry-after"));
                    (Some(r), status, retry_after)
                }
                Err(_) => (None, 0, false),
            };
        self.answers
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if status == 0 || status >= 500 {
            self.answers
                .failures
                .lock()
                .expect("failures")
                .push(Failure {
                    at_s: self.now(),
                    status,
                    retry_after,
                    request: described,
                });
        }
        response
    }
}

/// A finished upload: the video it made and the SHA-256 of the file sent.
#[derive(Debug, Clone)]
struct Uploaded {
    video: String,
    sha256: String,
    file: String,
}

/// One tus upload to its end, whatever happens on the way: every failed step is retried
/// (the PATCH from the offset the server reports), until `deadline`.
async fn tus_upload(
    ctx: &Ctx,
    token: &str,
    file: &Path,
    deadline: Instant,
) -> anyhow::Result<Uploaded> {
    use base64::Engine as _;
    let bytes = tokio::fs::read(file).await?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let pause = || tokio::time::sleep(Duration::from_millis(500));
    let url = loop {
        anyhow::ensure!(Instant::now() < deadline, "creating the upload of {name}");
        let r = ctx
            .send(
                ctx.client
                    .post(format!("{}/v1/uploads", ctx.api))
                    .bearer_auth(token)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Length", bytes.len())
                    .header(
                        "Upload-Metadata",
                        format!("filename {},title {}", b64(&name), b64(&name)),
                    ),
            )
            .await;
        // A create whose answer was lost may have made an upload nobody resumes: it stays
        // unfinished and expires, as a phone's would.
        match r {
            Some(r) if r.status() == StatusCode::CREATED => {
                break r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .context("no Location")?
                    .to_owned();
            }
            Some(r) if r.status().is_client_error() => {
                bail!("creating the upload of {name}: {}", r.status())
            }
            _ => pause().await,
        }
    };
    const CHUNK: usize = 128 * 1024;
    let mut offset = 0usize;
    let mut video = None;
    while offset < bytes.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "uploading {name}: stuck at {offset}"
        );
        let end = (offset + CHUNK).min(bytes.len());
        let r = ctx
            .send(
                ctx.client
                    .patch(&url)
                    .bearer_auth(token)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Content-Type", "application/offset+octet-stream")
                    .header("Upload-Offset", offset)
                    .body(bytes[offset..end].to_vec()),
            )
            .await;
        match r {
            Some(r) if r.status() == StatusCode::NO_CONTENT => {
                let header = |n: &str| {
                    r.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                offset = header("upload-offset")
                    .and_then(|v| v.parse().ok())
                    .context("no Upload-Offset")?;
                video = header("video-id").or(video);
            }
            Some(r) if matches!(r.status().as_u16(), 404 | 410) => {
                bail!("uploading {name}: the upload is gone ({})", r.status())
            }
            _ => {
                // Where does the server stand? (It may have kept part of the failed PATCH.)
                pause().await;
                if let Some(o) = tus_head(ctx, &url, token, "upload-offset")
                    .await
                    .and_then(|v| v.parse().ok())
                {
                    offset = o;
                }
            }
        }
    }
    let video = match video {
        Some(v) => v,
        None => loop {
            anyhow::ensure!(Instant::now() < deadline, "the video of {name}");
            if let Some(v) = tus_head(ctx, &url, token, "video-id").await {
                break v;
            }
            pause().await;
        },
    };
    Ok(Uploaded {
        video,
        sha256,
        file: name.into_owned(),
    })
}

/// Header `name` of the upload's HEAD, when the server answers it.
async fn tus_head(ctx: &Ctx, url: &str, token: &str, name: &str) -> Option<String> {
    let r = ctx
        .send(
            ctx.client
                .head(url)
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0"),
        )
        .await?;
    if r.status() != StatusCode::OK {
        return None;
    }
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The real clips the manifest expects to become ready.
fn ready_clips(media: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let manifest = std::fs::read_to_string(media.join("MANIFEST.tsv"))
        .with_context(|| format!("reading {}/MANIFEST.tsv", media.display()))?;
    let clips: Vec<PathBuf> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (file, expect) = (f.next()?, f.next()?);
            (expect == "ready").then(|| media.join(file))
        })
        .filter(|p| p.exists())
        .collect();
    anyhow::ensure!(
        !clips.is_empty(),
        "no clip in {} is expected ready",
        media.display()
    );
    Ok(clips)
}

/// An account as `vitrine account create` makes it: `(id, session token)`.
async fn new_account(
    db: &vitrine_core::db::Db,
    role: &str,
    name: String,
) -> anyhow::Result<(String, String)> {
    let policy = crate::Config::default().auth.session_policy();
    let made = vitrine_identity::script::create(db, &policy, role.parse()?, &name).await?;
    let made = serde_json::to_value(&made)?;
    Ok((
        made["id"].as_str().context("id")?.to_owned(),
        made["token"].as_str().context("token")?.to_owned(),
    ))
}

/// The orders one buyer placed: idempotency key → the order ids the API answered with.
type Placed = BTreeMap<String, Vec<String>>;

/// The first answer to `request` that is not a 5xx, sent again (the same request: the same
/// idempotency key) every 500 ms while there is none, at most 120 times.
async fn answered(
    ctx: &Ctx,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Option<reqwest::Response> {
    for _ in 0..120 {
        match ctx.send(request()).await {
            Some(r) if !r.status().is_server_error() => return Some(r),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    None
}

/// One purchase, retried with the same idempotency key until the API answers it; then paid.
/// The order's id and whether it was paid; `None` when refused (sold out) or never answered.
async fn buy(
    ctx: &Ctx,
    token: &str,
    viewer: &str,
    product: &str,
    key: &str,
) -> Option<(String, bool)> {
    let placed = answered(ctx, || {
        ctx.client
            .post(format!("{}/v1/orders", ctx.api))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"viewer_id": viewer, "items": [{"product_id": product, "quantity": 1}]}))
    })
    .await
    .filter(|r| r.status().is_success())?;
    let order: Value = placed.json().await.ok()?;
    let id = order["id"].as_str()?.to_owned();
    // Paying is retried too (the provider is the embedded test one).
    let paid = answered(ctx, || {
        ctx.client
            .post(format!("{}/v1/orders/{id}/pay", ctx.api))
            .bearer_auth(token)
            .json(&json!({"payment_method": "pm_card_approved"}))
    })
    .await
    .is_some_and(|r| r.status().is_success());
    Some((id, paid))
}

#[derive(Debug, Serialize)]
struct Summary {
    seconds: f64,
    uploads: usize,
    uploads_ready: usize,
    uploads_lost: Vec<String>,
    originals_mismatched: Vec<String>,
    renditions_broken: Vec<String>,
    videos_stuck: i64,
    jobs_leased_by_dead_workers: i64,
    orders: usize,
    orders_paid: usize,
    keys_with_two_orders: usize,
    stock_negative: i64,
    units_sold_mismatches: Vec<String>,
    feed_pages: usize,
    events_accepted: usize,
    faults: Vec<Fault>,
    answers: usize,
    server_errors_outside_faults: usize,
    server_errors_inside_faults: usize,
    server_errors_inside_faults_without_retry_after: usize,
    /// Every request answered 5xx or not at all, in order.
    failures: Vec<Failure>,
    lost: usize,
    duplicated: usize,
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let cluster = Arc::new(Cluster::load(&args.cluster_dir)?);
    let api = cluster.get("API_URL")?.to_owned();
    let database = cluster.get("DATABASE_URL")?.to_owned();
    let db = vitrine_core::db::Db::connect(&database).await?;
    let clips = ready_clips(&args.media)?;
    let account = |role: &'static str, name: String| new_account(&db, role, name);
    let run_tag = vitrine_core::time::now_ms();
    let mut creators = Vec::new();
    for i in 0..3 {
        creators.push(account("creator", format!("Chaos creator {i} {run_tag}")).await?);
    }
    let mut buyers = Vec::new();
    for i in 0..4 {
        buyers.push(account("viewer", format!("Chaos buyer {i} {run_tag}")).await?);
    }
    let (_, merchant) = account("merchant", format!("Chaos shop {run_tag}")).await?;
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        client: reqwest::Client::new(),
        started: Instant::now(),
        answers: Answers::default(),
        stop: tokio_util::sync::CancellationToken::new(),
    });
    // Products with little stock: the buyers together want more than there is.
    let mut products = Vec::new();
    for (i, stock) in [5i64, 8, 12].into_iter().enumerate() {
        let r = ctx
            .client
            .post(format!("{api}/v1/products"))
            .bearer_auth(&merchant)
            .json(&json!({"title": format!("Chaos lamp {i}"), "price": {"amount_minor": 1500, "currency": "USD"}, "stock": stock, "commission_bps": 500}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == StatusCode::CREATED,
            "creating a product: {}",
            r.status()
        );
        let p: Value = r.json().await?;
        products.push((p["id"].as_str().context("product id")?.to_owned(), stock));
    }
    println!(
        "chaos: {} s of workload through {api}: {} clips, {} products, faults at random moments",
        args.seconds,
        clips.len(),
        products.len()
    );

    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let uploaded: Arc<Mutex<Vec<Uploaded>>> = Arc::default();
    let upload_errors: Arc<Mutex<Vec<String>>> = Arc::default();
    for (n, (_, token)) in creators.iter().enumerate() {
        let (ctx, mut token, clips) = (ctx.clone(), token.clone(), clips.clone());
        let (uploaded, upload_errors) = (uploaded.clone(), upload_errors.clone());
        let db = db.clone();
        tasks.spawn(async move {
            let mut i = n;
            let mut sent = 0;
            while !ctx.stop.is_cancelled() {
                let clip = &clips[i % clips.len()];
                i += 3;
                // A creator's second upload of the same file is the same video (no transcode):
                // once this one has sent every clip, a new creator goes on, so every upload
                // makes a transcode for the faults to hit.
                sent += 1;
                if sent > clips.len() {
                    sent = 1;
                    let name = format!("Chaos creator {n}/{i} {run_tag}");
                    match new_account(&db, "creator", name).await {
                        Ok((_, fresh)) => token = fresh,
                        Err(e) => upload_errors
                            .lock()
                            .expect("errors")
                            .push(format!("a new creator: {e:#}")),
                    }
                }
                // An upload started before the end may finish after it, within 3 minutes.
                match tus_upload(
                    &ctx,
                    &token,
                    clip,
                    Instant::now() + Duration::from_secs(180),
                )
                .await
                {
                    Ok(u) => uploaded.lock().expect("uploaded").push(u),
                    Err(e) => upload_errors.lock().expect("errors").push(format!("{e:#}")),
                }
                // About what 3 workers on this 2-core machine transcode: a backlog would only
                // measure the queue.
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
    }
    let placed: Arc<Mutex<Placed>> = Arc::default();
    let paid: Arc<Mutex<Vec<String>>> = Arc::default();
    for (n, (viewer, token)) in buyers.iter().enumerate() {
        let (ctx, viewer, token, products) =
            (ctx.clone(), viewer.clone(), token.clone(), products.clone());
        let (placed, paid) = (placed.clone(), paid.clone());
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(n as u64);
            let mut k = 0;
            while !ctx.stop.is_cancelled() {
                let (product, _) = &products[rng.gen_range(0..products.len())];
                let key = format!("chaos-{run_tag}-{n}-{k}");
                k += 1;
                if let Some((order, was_paid)) = buy(&ctx, &token, &viewer, product, &key).await {
                    placed
                        .lock()
                        .expect("placed")
                        .entry(key)
                        .or_default()
                        .push(order.clone());
                    if was_paid {
                        paid.lock().expect("paid").push(order);
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..4000))).await;
            }
        });
    }
    let pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (n, (viewer, token)) in buyers.iter().enumerate() {
        let (ctx, viewer, token) = (ctx.clone(), viewer.clone(), token.clone());
        let (pages, accepted) = (pages.clone(), accepted.clone());
        tasks.spawn(async move {
            let mut e = 0;
            while !ctx.stop.is_cancelled() {
                let r = ctx
                    .send(
                        ctx.client
                            .get(format!("{}/v1/feed?limit=5", ctx.api))
                            .bearer_auth(&token),
                    )
                    .await;
                let page: Option<Value> = match r.filter(|r| r.status().is_success()) {
                    Some(r) => r.json().await.ok(),
                    None => None,
                };
                if let Some(page) = page {
                    pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let events: Vec<Value> = page["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| item["video"]["id"].as_str().or(item["id"].as_str()))
                        .map(|video| {
                            e += 1;
                            json!({"id": format!("chaos-{run_tag}-{n}-{e}"), "viewer_id": viewer,
                                   "video_id": video, "type": "impression"})
                        })
                        .collect();
                    if !events.is_empty() {
                        let r = ctx
                            .send(
                                ctx.client
                                    .post(format!("{}/v1/events", ctx.api))
                                    .bearer_auth(&token)
                                    .json(&json!({ "events": events })),
                            )
                            .await;
                        if let Some(r) = r.filter(|r| r.status().is_success()) {
                            if let Ok(body) = r.json::<Value>().await {
                                let n = body["accepted"].as_u64().unwrap_or(0) as usize;
                                accepted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        });
    }

    // The faults, one after another at random moments of the workload.
    // The workload goes on until the faults are over, however long they took.
    let faults = inject_faults(&cluster, &ctx, &db, &args, end).await;
    ctx.stop.cancel();
    let faults = faults?;
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    let seconds = ctx.now();
    println!("chaos: workload done after {seconds:.0} s; checking");

    let uploaded = uploaded.lock().expect("uploaded").clone();
    let upload_errors = upload_errors.lock().expect("errors").clone();
    let placed = placed.lock().expect("placed").clone();
    let paid = paid.lock().expect("paid").len();
    let summary = check(
        &cluster,
        &ctx,
        &db,
        Checked {
            uploaded: &uploaded,
            upload_errors: &upload_errors,
            placed: &placed,
            paid,
            products: &products,
            pages: pages.load(std::sync::atomic::Ordering::Relaxed),
            accepted: accepted.load(std::sync::atomic::Ordering::Relaxed),
            faults,
            seconds,
        },
    )
    .await?;
    print_summary(&summary);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&summary)?)?;
    println!(
        "chaos: {} uploads, {} orders, {} faults, lost {}, duplicated {}, 5xx outside faults {}",
        summary.uploads,
        summary.orders,
        summary.faults.len(),
        summary.lost,
        summary.duplicated,
        summary.server_errors_outside_faults
    );
    anyhow::ensure!(
        summary.lost == 0 && summary.duplicated == 0 && summary.server_errors_outside_faults == 0,
        "chaos: the cluster lost, duplicated or failed something (see {})",
        args.out.display()
    );
    Ok(())
}

/// Waits until `what` holds, polling, for at most `limit`.
async fn until<F, Fut>(limit: Duration, mut what: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if what().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Seconds until the API answers a plain read with 200 again.
async fn recovery(ctx: &Ctx) -> Option<f64> {
    let started = Instant::now();
    until(Duration::from_secs(120), || async {
        ctx.client
            .get(format!("{}/v1/feed?limit=1", ctx.api))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
    .then(|| started.elapsed().as_secs_f64())
}

async fn inject_faults(
    cluster: &Cluster,
    ctx: &Ctx,
    db: &vitrine_core::db::Db,
    args: &ChaosArgs,
    end: Instant,
) -> anyhow::Result<Vec<Fault>> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut faults = Vec::new();
    // Five slots over the workload; each fault at a random moment of its slot.
    let slot = Duration::from_secs(args.seconds) / 6;
    let wait_into_slot = |rng: &mut StdRng| slot.mul_f64(rng.gen_range(0.2..0.8));

    // 1. A worker killed while it holds a transcode's lease (its owner names its process).
    tokio::time::sleep(wait_into_slot(&mut rng)).await;
    until(Duration::from_secs(60), || async {
        !leases(db).await.is_empty()
    })
    .await;
    let victim = leases(db).await.into_iter().find_map(|(pid, video)| {
        ["worker1", "worker2", "worker3"]
            .into_iter()
            .find(|w| cluster.pid(w) == Some(pid))
            .map(|w| (w, video))
    });
    let worker = victim.as_ref().map_or("worker1", |(w, _)| *w);
    let name = match victim {
        Some(_) => format!("kill -9 {worker} mid-transcode"),
        None => format!("kill -9 {worker} (no transcode was running)"),
    };
    let down = Duration::from_secs(15);
    let mut killed = outage(cluster, ctx, name, "kill", worker, down).await?;
    killed.video = victim.map(|(_, video)| video);
    faults.push(killed);

    // 2. An API process killed while uploads are sending; started again 10 s later.
    tokio::time::sleep(wait_into_slot(&mut rng)).await;
    let api = if rng.gen_bool(0.5) { "api1" } else { "api2" };
    let name = format!("kill -9 {api}");
    let down = Duration::from_secs(10);
    faults.push(outage(cluster, ctx, name, "kill", api, down).await?);

    // 3. One Garage node stopped for a while, then started again.
    tokio::time::sleep(wait_into_slot(&mut rng)).await;
    let node = ["garage1", "garage2", "garage3"][rng.gen_range(0..3)];
    let name = format!("{node} down {} s", args.storage_down_seconds);
    let down = Duration::from_secs(args.storage_down_seconds);
    faults.push(outage(cluster, ctx, name, "stop", node, down).await?);

    // 4. PostgreSQL restarted: fast shutdown, a moment, start.
    tokio::time::sleep(wait_into_slot(&mut rng)).await;
    let name = "PostgreSQL restart (fast shutdown, 5 s, start)".to_owned();
    let down = Duration::from_secs(5);
    faults.push(outage(cluster, ctx, name, "stop", "postgres", down).await?);

    // 5. worker3's scratch space (a small tmpfs) filled while it transcodes: the attempt fails
    //    with a reason, and the job is tried again (by another worker, or by it once there is
    //    room again, 20 s later).
    tokio::time::sleep(wait_into_slot(&mut rng)).await;
    faults.push(scratch_full(cluster, ctx, db).await?);
    let left = end.saturating_duration_since(Instant::now());
    tokio::time::sleep(left).await;
    Ok(faults)
}

/// One fault: `action` (`kill`: -9, `stop`: a clean stop) on `part`, started again `down`
/// later; the API's recovery is timed from then.
async fn outage(
    cluster: &Cluster,
    ctx: &Ctx,
    name: String,
    action: &str,
    part: &str,
    down: Duration,
) -> anyhow::Result<Fault> {
    let started_s = ctx.now();
    cluster.part(action, part).await?;
    println!("chaos: {started_s:6.1} s  {name}");
    tokio::time::sleep(down).await;
    cluster.part("start", part).await?;
    let ended_s = ctx.now();
    println!("chaos: {ended_s:6.1} s  {part} started again");
    Ok(Fault {
        name,
        started_s,
        ended_s,
        recovered_after_s: recovery(ctx).await,
        video: None,
        job: None,
    })
}

/// Fills worker3's scratch space while it holds a lease, for 20 s.
async fn scratch_full(
    cluster: &Cluster,
    ctx: &Ctx,
    db: &vitrine_core::db::Db,
) -> anyhow::Result<Fault> {
    let work = cluster.dir.join("worker3/work");
    let small = Command::new("mountpoint")
        .arg("-q")
        .arg(&work)
        .status()
        .is_ok_and(|s| s.success());
    let pid = cluster.pid("worker3");
    until(Duration::from_secs(120), || async {
        leases(db).await.iter().any(|(p, _)| Some(*p) == pid)
    })
    .await;
    let video = leases(db)
        .await
        .into_iter()
        .find(|(p, _)| Some(*p) == pid)
        .map(|(_, v)| v);
    let started_s = ctx.now();
    let filler = work.join("chaos-filler");
    let written = tokio::task::spawn_blocking({
        let filler = filler.clone();
        move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&filler)?;
            let chunk = vec![0u8; 1 << 20];
            let mut written = 0u64;
            // Until the space runs out (ENOSPC), but no more than 8 GiB on a disk that is not
            // a small tmpfs.
            while written < 8 << 30 {
                match file.write_all(&chunk) {
                    Ok(()) => written += chunk.len() as u64,
                    Err(_) => break,
                }
            }
            std::io::Result::Ok(written)
        }
    })
    .await??;
    println!(
        "chaos: {started_s:6.1} s  worker3's scratch full ({} MiB written{}{})",
        written >> 20,
        if small {
            ""
        } else {
            "; not a small tmpfs: not root?"
        },
        video
            .as_deref()
            .map_or(String::from(", no transcode was running"), |v| format!(
                ", mid-transcode of {v}"
            ))
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    tokio::fs::remove_file(&filler).await?;
    let ended_s = ctx.now();
    println!("chaos: {ended_s:6.1} s  worker3's scratch has room again");
    Ok(Fault {
        name: match &video {
            Some(_) => "worker3's scratch full mid-transcode".into(),
            None => "worker3's scratch full (no transcode was running)".into(),
        },
        started_s,
        ended_s,
        recovered_after_s: recovery(ctx).await,
        video,
        job: None,
    })
}

/// The workers holding a transcode's lease now: their process ids (owners are `host:pid:…`)
/// and the videos.
async fn leases(db: &vitrine_core::db::Db) -> Vec<(u32, String)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT lease_owner, video_id FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await
    .unwrap_or_default();
    rows.into_iter()
        .filter_map(|(owner, video)| Some((owner.split(':').nth(1)?.parse().ok()?, video)))
        .collect()
}

struct Checked<'a> {
    uploaded: &'a [Uploaded],
    upload_errors: &'a [String],
    placed: &'a Placed,
    paid: usize,
    products: &'a [(String, i64)],
    pages: usize,
    accepted: usize,
    faults: Vec<Fault>,
    seconds: f64,
}

async fn check(
    cluster: &Cluster,
    ctx: &Ctx,
    db: &vitrine_core::db::Db,
    c: Checked<'_>,
) -> anyhow::Result<Summary> {
    // Every acknowledged upload ends ready (allow the queue to drain).
    let mut uploads_lost = Vec::new();
    let mut renditions_broken = Vec::new();
    let mut originals_mismatched = Vec::new();
    let mut ready = 0;
    anyhow::ensure!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be the cluster's key (S3_KEY_ID and \
         S3_SECRET in cluster.env; scripts/chaos.sh sets them)"
    );
    let store = vitrine_assets::Store::S3(
        vitrine_assets::S3Store::connect(&vitrine_assets::S3Config {
            endpoint: Some(cluster.get("S3_ENDPOINT")?.to_owned()),
            bucket: cluster.get("S3_BUCKET")?.to_owned(),
            region: "garage".into(),
            path_style: true,
        })
        .await?,
    );
    let mut seen = std::collections::HashSet::new();
    for u in c.uploaded {
        // Each video once (an upload of the same file by the same creator is the same video).
        if !seen.insert(u.video.clone()) {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut video = Value::Null;
        let settled = loop {
            if let Ok(r) = ctx
                .client
                .get(format!("{}/v1/videos/{}", ctx.api, u.video))
                .send()
                .await
            {
                video = r.json().await.unwrap_or(Value::Null);
            }
            if matches!(video["status"].as_str(), Some("ready" | "failed")) {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if !settled || video["status"] != "ready" {
            uploads_lost.push(format!("{} ({}): {}", u.video, u.file, video["status"]));
            continue;
        }
        ready += 1;
        // The original as stored is the file sent.
        let scratch = tempfile::tempdir()?;
        let original = scratch.path().join("original");
        match store
            .get_to_file(&vitrine_assets::keys::original(&u.video), &original)
            .await
        {
            Ok(_) => {
                let sent = hex::encode(Sha256::digest(std::fs::read(&original)?));
                if sent != u.sha256 {
                    originals_mismatched.push(u.video.clone());
                }
            }
            Err(_) => originals_mismatched.push(u.video.clone()),
        }
        // Every progressive rung decodes.
        for rung in video["playback"]["mp4"].as_array().into_iter().flatten() {
            let Some(url) = rung["url"].as_str() else {
                continue;
            };
            let file = scratch.path().join("rung.mp4");
            let ok = match ctx.client.get(url).send().await {
                Ok(r) if r.status().is_success() => {
                    std::fs::write(&file, r.bytes().await?)?;
                    decodes(&file).await
                }
                _ => false,
            };
            if !ok {
                renditions_broken.push(format!("{} {url}", u.video));
            }
        }
    }
    let videos_stuck: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM videos WHERE status IN ('queued', 'processing')")
            .fetch_one(db.pool())
            .await?;
    let live_pids: Vec<u32> = ["worker1", "worker2", "worker3"]
        .into_iter()
        .filter_map(|w| cluster.pid(w))
        .collect();
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL AND state = 'running'",
    )
    .fetch_all(db.pool())
    .await?;
    let jobs_leased_by_dead_workers = owners
        .iter()
        .filter(|o| {
            o.split(':')
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
                .is_none_or(|pid| !live_pids.contains(&pid))
        })
        .count() as i64;

    // Orders: one per key; stock never negative; what was sold is what left the stock.
    let orders: usize = c.placed.values().map(Vec::len).sum();
    let keys_with_two_orders = c
        .placed
        .values()
        .filter(|ids| {
            let mut ids = (*ids).clone();
            ids.sort();
            ids.dedup();
            ids.len() > 1
        })
        .count();
    let mut stock_negative = 0;
    let mut units_sold_mismatches = Vec::new();
    for (product, initial) in c.products {
        let stock: i64 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(product)
            .fetch_one(db.pool())
            .await?;
        if stock < 0 {
            stock_negative += 1;
        }
        let held: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM order_items i JOIN orders o ON o.id = i.order_id \
             WHERE i.product_id = $1 AND o.status IN ('pending_payment', 'paying', 'paid', 'fulfilled')",
        )
        .bind(product)
        .fetch_one(db.pool())
        .await?;
        if initial - stock != held {
            units_sold_mismatches.push(format!(
                "{product}: stock {initial} -> {stock}, but {held} held by live orders"
            ));
        }
    }

    // The transcodes a fault hit: how many attempts their jobs took, and how they ended.
    let mut faults = c.faults;
    for f in &mut faults {
        if let Some(video) = &f.video {
            let job: Option<(i64, String, Option<String>)> = sqlx::query_as(
                "SELECT attempts, state, last_error FROM jobs WHERE video_id = $1 \
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(video)
            .fetch_optional(db.pool())
            .await?;
            f.job = job.map(|(attempts, state, error)| {
                format!(
                    "{attempts} attempts, {state}{}",
                    error.map_or(String::new(), |e| format!(" (last error: {e})"))
                )
            });
        }
    }

    // Answers: a 5xx outside every fault's window is a failure; inside, it must say when to retry.
    let windows: Vec<(f64, f64)> = faults
        .iter()
        .map(|f| {
            (
                f.started_s,
                f.ended_s + f.recovered_after_s.unwrap_or(0.0) + FAULT_TAIL_S,
            )
        })
        .collect();
    let failures = ctx.answers.failures.lock().expect("failures").clone();
    let in_fault = |f: &&Failure| windows.iter().any(|(a, b)| f.at_s >= *a && f.at_s <= *b);
    let inside = failures.iter().filter(in_fault).count();
    let outside = failures.len() - inside;
    let inside_bare = failures
        .iter()
        .filter(in_fault)
        .filter(|f| f.status >= 500 && !f.retry_after)
        .count();
    let lost = uploads_lost.len()
        + originals_mismatched.len()
        + renditions_broken.len()
        + usize::try_from(videos_stuck).unwrap_or(0)
        + units_sold_mismatches.len()
        + c.upload_errors.len();
    for e in c.upload_errors {
        println!("chaos: an upload did not finish: {e}");
    }
    Ok(Summary {
        seconds: c.seconds,
        uploads: c.uploaded.len() + c.upload_errors.len(),
        uploads_ready: ready,
        uploads_lost,
        originals_mismatched,
        renditions_broken,
        videos_stuck,
        jobs_leased_by_dead_workers,
        orders,
        orders_paid: c.paid,
        keys_with_two_orders,
        stock_negative,
        units_sold_mismatches,
        feed_pages: c.pages,
        events_accepted: c.accepted,
        faults,
        answers: ctx.answers.sent.load(std::sync::atomic::Ordering::Relaxed),
        server_errors_outside_faults: outside,
        server_errors_inside_faults: inside,
        server_errors_inside_faults_without_retry_after: inside_bare,
        failures,
        lost,
        duplicated: keys_with_two_orders + usize::try_from(stock_negative).unwrap_or(0),
    })
}

/// Whether ffmpeg decodes the whole file without an error.
async fn decodes(file: &Path) -> bool {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(&file)
            .args(["-f", "null", "-"])
            .output()
            .is_ok_and(|o| o.status.success() && o.stderr.is_empty())
    })
    .await
    .unwrap_or(false)
}

fn print_summary(s: &Summary) {
    for f in &s.failures {
        println!(
            "chaos: {:6.1} s  {} {}{}",
            f.at_s,
            if f.status == 0 {
                "no answer".to_owned()
            } else {
                f.status.to_string()
            },
            f.request,
            if f.status >= 500 && !f.retry_after {
                " (no Retry-After)"
            } else {
                ""
            }
        );
    }
    println!("\n| fault | from (s) | to (s) | API back after (s) |\n|---|---|---|---|");
    for f in &s.faults {
        let hit = match (&f.video, &f.job) {
            (Some(v), Some(job)) => format!(" ({v}: {job})"),
            (Some(v), None) => format!(" ({v})"),
            _ => String::new(),
        };
        println!(
            "| {}{hit} | {:.1} | {:.1} | {} |",
            f.name,
            f.started_s,
            f.ended_s,
            f.recovered_after_s
                .map_or("never".into(), |r| format!("{r:.1}"))
        );
    }
    println!(
        "\n| check | result |\n|---|---|\n\
         | uploads acknowledged / ready | {} / {} |\n\
         | uploads lost, originals changed, rungs not decoding | {} / {} / {} |\n\
         | videos stuck queued or processing | {} |\n\
         | jobs leased by dead workers | {} |\n\
         | orders placed / paid | {} / {} |\n\
         | idempotency keys with two orders | {} |\n\
         | products with negative stock / sold ≠ stock taken | {} / {} |\n\
         | feed pages / events accepted | {} / {} |\n\
         | answers / 5xx or no answer outside faults / inside | {} / {} / {} |\n\
         | 5xx inside faults without Retry-After | {} |",
        s.uploads,
        s.uploads_ready,
        s.uploads_lost.len(),
        s.originals_mismatched.len(),
        s.renditions_broken.len(),
        s.videos_stuck,
        s.jobs_leased_by_dead_workers,
        s.orders,
        s.orders_paid,
        s.keys_with_two_orders,
        s.stock_negative,
        s.units_sold_mismatches.len(),
        s.feed_pages,
        s.events_accepted,
        s.answers,
        s.server_errors_outside_faults,
        s.server_errors_inside_faults,
        s.server_errors_inside_faults_without_retry_after,
    );
}
