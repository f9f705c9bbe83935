//! The worker loop: lease a job, fetch the original from the store, run the GStreamer pipeline on
//! a blocking thread, publish the outputs, then make the video `ready` — in that order, so a ready
//! video never lists an object that does not exist.
//!
//! For the whole job (download, pipeline, upload) a companion task heartbeats the lease; while
//! the pipeline runs the job task also writes progress. A lost lease or a shutdown cancels the
//! pipeline; on shutdown the job is handed back to the queue.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use vitrine_assets::{keys, Store};
use vitrine_core::{
    db::Db,
    videos::{self, PosterOutput, RenditionOutput, VideoOutputs},
};

use crate::{
    early::EarlyPublisher,
    ladder,
    pipeline::{self, TranscodeError, TranscodeOptions, TranscodeOutput},
    probe,
    queue::{self, Lease},
    remux,
};

/// HLS segment length, also the keyframe interval.
const SEGMENT_SECONDS: u32 = 2;

/// How often the lowest rung's new segments are published while the ladder encodes.
const EARLY_PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// How a worker behaves; every field comes from the typed configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker asks the queue for work.
    pub poll_interval: Duration,
    /// Short sides of the ladder's rungs, e.g. `[1080, 720, 480, 360, 240]`.
    pub ladder: Vec<u32>,
    /// A pipeline whose position does not move for this long has stalled.
    pub stall_timeout: Duration,
    /// Scratch space for originals and outputs while a job runs.
    pub work_dir: PathBuf,
    /// Base of the retry backoff (doubles each attempt).
    pub retry_backoff: Duration,
    /// The longest video accepted, enforced again while decoding.
    pub max_duration: Duration,
    /// Wall-clock time an attempt may take per second of that limit (an attempt on a
    /// 10-minute limit with factor 6 gets an hour, plus a minute to start).
    pub time_factor: f64,
}

impl WorkerConfig {
    /// The wall-clock budget of one attempt.
    pub fn time_budget(&self) -> Duration {
        Duration::from_secs(60)
            + self
                .max_duration
                .mul_f64(self.time_factor.clamp(0.1, 1000.0))
    }
}

/// Runs until `shutdown` is cancelled, then hands running jobs back and returns.
pub async fn run(
    db: Db,
    store: Store,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    probe::init()?;
    tokio::fs::create_dir_all(&config.work_dir)
        .await
        .with_context(|| format!("creating work dir {}", config.work_dir.display()))?;
    let owner = format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    tracing::info!(%owner, concurrency = config.concurrency, "transcode worker started");
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let config = Arc::new(config);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_scratch_sweep = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_scratch_sweep {
            next_scratch_sweep = tokio::time::Instant::now() + SCRATCH_SWEEP_EVERY;
            sweep_scratch(&db, &config.work_dir).await;
        }
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit?,
        };
        match queue::lease(&db, &owner, config.lease).await {
            Ok(Some(lease)) => {
                let job = Job {
                    db: db.clone(),
                    store: store.clone(),
                    config: config.clone(),
                    shutdown: shutdown.clone(),
                };
                tasks.spawn(async move {
                    job.run(lease).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leasing a job failed; retrying"),
        }
        drop(permit);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!(%owner, "transcode worker stopped");
    Ok(())
}

/// How often the work directory is checked for dead workers' scratch directories.
const SCRATCH_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Removes the scratch directories (`work_dir/{job id}`) of jobs no worker holds a live lease
/// on: left by a worker that died (a worker on this machine, since the directory is local). A
/// directory whose job another process is running is left alone.
pub async fn sweep_scratch(db: &Db, work_dir: &Path) -> usize {
    let Ok(mut entries) = tokio::fs::read_dir(work_dir).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(job) = name.parse::<vitrine_core::ids::JobId>() else {
            continue;
        };
        match queue::is_leased(db, &job).await {
            Ok(true) => {}
            Ok(false) => {
                if tokio::fs::remove_dir_all(entry.path()).await.is_ok() {
                    removed += 1;
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking a scratch directory's job failed"),
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed dead workers' scratch directories");
    }
    removed
}

struct Job {
    db: Db,
    store: Store,
    config: Arc<WorkerConfig>,
    shutdown: CancellationToken,
}

/// How a job goes back to the queue.
enum Requeue {
    /// Shutdown: due at once, the attempt not counted.
    HandBack,
    /// A transient failure: due again after `delay`.
    RetryAfter { cause: String, delay: Duration },
}

/// Why a job stopped without output.
enum Stop {
    /// Process shutdown: hand the job back.
    Shutdown,
    /// Another worker owns the job now (or it was deleted).
    LeaseLost,
    /// The input cannot be transcoded; retrying will not help.
    Permanent(String),
    /// Anything else (storage, database, a stalled pipeline): retry with backoff.
    Transient(anyhow::Error),
}

impl Job {
    #[tracing::instrument(skip_all, fields(video = %lease.video_id, attempt = lease.attempt))]
    async fn run(self, lease: Lease) {
        let started = Instant::now();
        if lease.attempt > lease.max_attempts {
            // Only reachable when every earlier attempt died without reporting (lease expiry).
            let reason = format!(
                "transcoding was interrupted {} times; giving up",
                lease.max_attempts
            );
            self.fail(&lease, &reason, &reason, "interrupted").await;
            return;
        }
        let scratch = self.config.work_dir.join(lease.job_id.as_str());
        let lease_lost = CancellationToken::new();
        let heartbeat = tokio::spawn(keep_alive(
            self.db.clone(),
            lease.clone(),
            self.config.lease,
            lease_lost.clone(),
        ));
        let result = self
            .transcode_and_publish(&lease, &scratch, &lease_lost)
            .await;
        heartbeat.abort();
        if let Err(e) = tokio::fs::remove_dir_all(&scratch).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, dir = %scratch.display(), "could not clean scratch dir");
            }
        }
        let outcome = match result {
            Ok(()) => {
                tracing::info!(elapsed = ?started.elapsed(), "video ready");
                "ready"
            }
            Err(Stop::Shutdown) => {
                tracing::info!("shutting down: handing the job back to the queue");
                self.requeue(&lease, Requeue::HandBack).await;
                "released"
            }
            Err(Stop::LeaseLost) => {
                tracing::warn!("lease lost; another worker owns the job, or the video is gone");
                // What this attempt published is under its own prefix, which nothing lists any
                // more: the next attempt starts its video over, a deletion takes the row.
                let prefix = keys::rendition_file(
                    lease.video_id.as_str(),
                    &format!("{}/", attempt_dir(&lease)),
                );
                if let Err(e) = self.store.delete_prefix(&prefix).await {
                    tracing::warn!(error = %e, %prefix, "could not remove the lost attempt's objects");
                }
                "lease_lost"
            }
            Err(Stop::Permanent(reason)) => {
                self.fail(&lease, &reason, &reason, "media").await;
                "failed"
            }
            Err(Stop::Transient(e)) => {
                // The cause chain (paths, bucket names, SQL) is for operators: it goes to the
                // log and the job row; the creator sees a plain sentence.
                let cause = format!("{e:#}");
                if lease.attempt >= lease.max_attempts {
                    tracing::error!(error = %cause, "job failed on its last attempt");
                    let reason = format!(
                        "processing failed {} times for reasons on our side; please try again later",
                        lease.attempt
                    );
                    self.fail(&lease, &reason, &cause, "exhausted").await;
                    "failed"
                } else {
                    let delay = self.config.retry_backoff * 2u32.pow(lease.attempt as u32 - 1);
                    tracing::warn!(error = %cause, ?delay, "job failed; retrying later");
                    metrics::counter!("vitrine_transcode_failures_total", "reason" => "retry")
                        .increment(1);
                    self.requeue(&lease, Requeue::RetryAfter { cause, delay })
                        .await;
                    "retry"
                }
            }
        };
        metrics::histogram!("vitrine_transcode_job_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    }

    /// Returns the job to the queue and its video to `queued`, in one transaction and only while
    /// this worker still holds the lease: a late worker never demotes a video another finished.
    async fn requeue(&self, lease: &Lease, how: Requeue) {
        let result: anyhow::Result<()> = async {
            let mut tx = self.db.begin().await?;
            let still_ours = match &how {
                Requeue::HandBack => queue::release(&self.db, &mut tx, lease).await?,
                Requeue::RetryAfter { cause, delay } => {
                    queue::retry_later(&self.db, &mut tx, lease, cause, *delay).await?
                }
            };
            if still_ours {
                videos::return_to_queue(&mut tx, &lease.video_id).await?;
                tx.commit().await?;
                self.db.changed(vitrine_core::changes::Topic::Showcase);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = ?e, "could not return the job to the queue; its lease will expire");
        }
    }

    /// Fails the job and its video: `reason` is what the creator reads, `cause` what operators
    /// find on the job row.
    async fn fail(&self, lease: &Lease, reason: &str, cause: &str, kind: &'static str) {
        tracing::warn!(%reason, %cause, "job failed for good");
        metrics::counter!("vitrine_transcode_failures_total", "reason" => kind).increment(1);
        let result: anyhow::Result<()> = async {
            let mut tx = self.db.begin().await?;
            if queue::fail(&mut tx, lease, cause).await? {
                videos::mark_failed(&mut tx, &lease.video_id, reason).await?;
                tx.commit().await?;
                self.db.changed(vitrine_core::changes::Topic::Showcase);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = ?e, "could not record the failure");
        }
    }

    async fn transcode_and_publish(
        &self,
        lease: &Lease,
        scratch: &Path,
        lease_lost: &CancellationToken,
    ) -> Result<(), Stop> {
        let transient = |e: anyhow::Error| Stop::Transient(e);
        let Some(video) = videos::get(&self.db, &lease.video_id)
            .await
            .map_err(|e| transient(e.into()))?
        else {
            return Err(Stop::LeaseLost);
        };
        videos::mark_processing(&self.db, &video.id)
            .await
            .map_err(|e| transient(e.into()))?;

        let source = scratch.join("source");
        let out_dir = scratch.join("out");
        tokio::fs::create_dir_all(&out_dir)
            .await
            .map_err(|e| transient(e.into()))?;
        self.store
            .get_to_file(&keys::original(video.id.as_str()), &source)
            .await
            .map_err(|e| transient(anyhow::Error::new(e).context("fetching the original")))?;

        let (output, published_early) = self
            .run_pipeline(lease, source, out_dir.clone(), lease_lost)
            .await?;
        let outputs = self
            .publish(lease, &out_dir, &output, &published_early, lease_lost)
            .await?;

        let mut tx = self.db.begin().await.map_err(|e| transient(e.into()))?;
        if !queue::complete(&mut tx, lease)
            .await
            .map_err(|e| transient(e.into()))?
        {
            drop(tx);
            // If the video was deleted while we worked, what we just published is orphaned.
            if matches!(videos::get(&self.db, &video.id).await, Ok(None)) {
                let _ = self
                    .store
                    .delete_prefix(&keys::video_prefix(video.id.as_str()))
                    .await;
            }
            return Err(Stop::LeaseLost);
        }
        videos::mark_ready(&mut tx, &video.id, &outputs, output.duration_ms)
            .await
            .map_err(transient)?;
        tx.commit().await.map_err(|e| transient(e.into()))?;
        self.db.changed(vitrine_core::changes::Topic::Showcase);
        self.remove_other_attempts(lease).await;
        Ok(())
    }

    /// Objects of earlier, failed attempts are garbage once this attempt made the video ready.
    /// Best effort: what is left stays under the video's prefix and goes when the video does.
    async fn remove_other_attempts(&self, lease: &Lease) {
        let prefix = keys::video_prefix(lease.video_id.as_str());
        let ours = format!("{prefix}{}/", attempt_dir(lease));
        match self.store.list(&prefix).await {
            Ok(keys) => {
                for key in keys.iter().filter(|k| !k.starts_with(&ours)) {
                    if let Err(e) = self.store.delete(key).await {
                        tracing::warn!(error = %e, %key, "could not remove an old attempt's object");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list old attempts' objects"),
        }
    }

    /// Runs the blocking pipeline on its own thread while this task records progress, publishes
    /// the lowest rung as it grows (making the video `playable`), and watches for shutdown and a
    /// lost lease. Returns the output and the files already published.
    async fn run_pipeline(
        &self,
        lease: &Lease,
        source: PathBuf,
        out_dir: PathBuf,
        lease_lost: &CancellationToken,
    ) -> Result<(TranscodeOutput, HashSet<String>), Stop> {
        let info = {
            let source = source.clone();
            tokio::task::spawn_blocking(move || probe::probe(&source, probe::DEFAULT_TIMEOUT))
                .await
                .map_err(|e| Stop::Transient(e.into()))?
                .map_err(|e| Stop::Permanent(e.to_string()))?
        };
        let mut rungs = ladder::plan(info.width, info.height, &self.config.ladder);
        ladder::cap_bitrates(&mut rungs, info.video_bitrate);
        let copy_top = {
            let (source, top) = (source.clone(), rungs[0].clone());
            let segment = Duration::from_secs(u64::from(SEGMENT_SECONDS));
            tokio::task::spawn_blocking(move || remux::plan(&source, &info, &top, segment))
                .await
                .map_err(|e| Stop::Transient(e.into()))?
                .unwrap_or_else(|e| {
                    // Re-encoding is always possible: a failed scan only costs time.
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "keyframe scan failed; re-encoding"
                    );
                    None
                })
        };
        if copy_top.is_some() {
            tracing::info!(rung = %rungs[0].name, "the top rung is a copy of the source");
        }
        let mut early = rungs
            .last()
            .map(|lowest| EarlyPublisher::new(out_dir.clone(), lowest.clone()));
        let mut early_tick = tokio::time::interval(EARLY_PUBLISH_EVERY);
        early_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let options = TranscodeOptions {
            rungs,
            segment_seconds: SEGMENT_SECONDS,
            stall_timeout: self.config.stall_timeout,
            copy_top,
            max_duration: Some(self.config.max_duration),
            time_budget: Some(self.config.time_budget()),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let (progress_tx, mut progress_rx) = watch::channel(0.0f64);
        let mut pipeline = {
            let cancel = cancel.clone();
            tokio::task::spawn_blocking(move || {
                let mut report = |p: f64| {
                    let _ = progress_tx.send(p);
                };
                pipeline::transcode(&source, &out_dir, &options, &mut report, &cancel)
            })
        };

        let mut last_written = 0.0;
        let mut progress_open = true;
        let mut stop: Option<Stop> = None;
        let result = loop {
            tokio::select! {
                result = &mut pipeline => break result,
                _ = self.shutdown.cancelled(), if stop.is_none() => {
                    cancel.store(true, Ordering::SeqCst);
                    stop = Some(Stop::Shutdown);
                }
                _ = lease_lost.cancelled(), if stop.is_none() => {
                    cancel.store(true, Ordering::SeqCst);
                    stop = Some(Stop::LeaseLost);
                }
                _ = early_tick.tick(), if stop.is_none() && early.is_some() => {
                    let Some(publisher) = early.as_mut() else { continue };
                    if let Err(e) = self.publish_early(lease, publisher).await {
                        // Not fatal: the video becomes playable when it is ready instead.
                        tracing::warn!(error = format!("{e:#}"), "early publishing stopped");
                        early = None;
                    }
                }
                changed = progress_rx.changed(), if progress_open => {
                    if changed.is_err() {
                        // The pipeline thread is done reporting; its result follows.
                        progress_open = false;
                        continue;
                    }
                    let p = *progress_rx.borrow_and_update();
                    // One write per percent point keeps the database quiet.
                    if p - last_written >= 0.01 {
                        last_written = p;
                        let _ = videos::set_progress(&self.db, &lease.video_id, p).await;
                    }
                }
            }
        };
        if let Some(stop) = stop {
            return Err(stop);
        }
        let published = early.map(|e| e.published().clone()).unwrap_or_default();
        match result.map_err(|e| Stop::Transient(e.into()))? {
            Ok(output) => Ok((output, published)),
            Err(TranscodeError::Media(reason)) => Err(Stop::Permanent(reason)),
            Err(TranscodeError::Cancelled) => Err(Stop::Shutdown),
            Err(e @ (TranscodeError::Stalled(_) | TranscodeError::OverBudget(_))) => {
                Err(Stop::Transient(e.into()))
            }
            Err(TranscodeError::Internal(e)) => Err(Stop::Transient(e)),
        }
    }

    /// One step of early publishing; the first step that publishes a segment makes the video
    /// `playable`.
    async fn publish_early(&self, lease: &Lease, early: &mut EarlyPublisher) -> anyhow::Result<()> {
        let key = |rel: &str| attempt_key(lease, rel);
        if early.step(&self.store, key).await? {
            let outputs = early.outputs(key);
            if videos::mark_playable(&self.db, &lease.video_id, &outputs).await? {
                tracing::info!("video playable: its lowest rung is published");
            }
        }
        Ok(())
    }

    /// Uploads every produced file under this attempt's own prefix (`videos/{id}/a{attempt}/…`)
    /// and returns what the video row will list. Segments published early are not sent again;
    /// the master playlist goes last, so it never lists a rung that is not there yet. A worker
    /// that lost its lease stops uploading, and even a late one can only write keys no ready
    /// video points at.
    async fn publish(
        &self,
        lease: &Lease,
        out_dir: &Path,
        output: &TranscodeOutput,
        published_early: &HashSet<String>,
        lease_lost: &CancellationToken,
    ) -> Result<VideoOutputs, Stop> {
        let key = |rel: &str| attempt_key(lease, rel);
        let mut keys_written = Vec::with_capacity(output.files.len());
        let (master, files): (Vec<_>, Vec<_>) = output
            .files
            .iter()
            .partition(|file| file.path == output.master_playlist);
        for file in files.into_iter().chain(master) {
            if lease_lost.is_cancelled() {
                return Err(Stop::LeaseLost);
            }
            if self.shutdown.is_cancelled() {
                return Err(Stop::Shutdown);
            }
            let k = key(&file.path);
            if published_early.contains(&file.path) {
                keys_written.push(k);
                continue;
            }
            self.store
                .put_file(&k, &out_dir.join(&file.path), file.content_type)
                .await
                .with_context(|| format!("uploading {}", file.path))
                .map_err(Stop::Transient)?;
            keys_written.push(k);
        }
        Ok(VideoOutputs {
            master_playlist: key(&output.master_playlist),
            poster: Some(key(&output.poster)),
            posters: output
                .posters
                .iter()
                .map(|p| PosterOutput {
                    width: p.width,
                    height: p.height,
                    jpeg: key(&p.jpeg),
                    webp: key(&p.webp),
                })
                .collect(),
            preview: output.preview.as_deref().map(key),
            storyboard: output.storyboard.as_deref().map(key),
            renditions: output
                .renditions
                .iter()
                .map(|r| RenditionOutput {
                    name: r.name.clone(),
                    width: r.width,
                    height: r.height,
                    bandwidth: r.bandwidth,
                    playlist: key(&r.playlist),
                    mp4: Some(key(&r.mp4)),
                })
                .collect(),
            keys: keys_written,
        })
    }
}

/// The folder under the video's prefix that one attempt writes to.
fn attempt_dir(lease: &Lease) -> String {
    format!("a{}", lease.attempt)
}

/// The object key of an output file (`rel` to the output directory) of this attempt.
fn attempt_key(lease: &Lease, rel: &str) -> String {
    keys::rendition_file(
        lease.video_id.as_str(),
        &format!("{}/{rel}", attempt_dir(lease)),
    )
}

/// Extends the lease every third of its length until aborted; cancels `lost` if another worker
/// took the job (or it was deleted with its video).
async fn keep_alive(db: Db, lease: Lease, lease_for: Duration, lost: CancellationToken) {
    let mut tick = tokio::time::interval(lease_for / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match queue::heartbeat(&db, &lease, lease_for).await {
            Ok(true) => {}
            Ok(false) => {
                lost.cancel();
                return;
            }
            // A database blip: the lease still has two thirds of its time to recover.
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned())
}
