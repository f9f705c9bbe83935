//! `vitrine bench transcode FILE`: Vitrine's ladder against one ffmpeg process doing the same work
//! on the same file. It prints wall and CPU time, peak memory, when the lowest rung became
//! playable, and each rung's SSIM against the source, for both.
//!
//! Each side runs as a child process, so its peak memory (`ru_maxrss` from `wait4`) is its own.
//! Vitrine's side is this binary run again as the hidden `vitrine bench transcode-once`, which
//! calls `probe` and `pipeline::transcode` exactly as the worker does. While a side runs, a thread
//! polls its output directory every 20 ms for the lowest rung's first HLS segment. Both sides use
//! the same paths and the same polling, so the two times can be compared directly.
//!
//! The ffmpeg side is the command an operator would write for the same job. It decodes once,
//! `split`s the video into one `scale` per rung, and uses libx264 with the same preset, bitrate,
//! VBV and GOP as Vitrine's x264enc. It encodes AAC once, and the `tee` muxer writes each encode
//! to an MP4 and to HLS. The benchmark prints the command so that anyone can run it again. The
//! settings both sides share (preset, output frame rate, audio) are read from
//! `vitrine_transcode::ladder`, never restated here, so the two sides cannot drift apart.

mod ffmpeg;
mod job;
mod measure;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use vitrine_transcode::ladder;
use vitrine_transcode::pipeline::{self, TranscodeOptions};
use vitrine_transcode::{probe, remux};

use ffmpeg::{check_ffmpeg, ffmpeg_ladder_args, mp4s, shell_line, ssim_against_source};
use job::{Source, SEGMENT_SECONDS};
use measure::{mp4_kbps, run_side, OnceReport};
use report::{describe_source, Report, RungRow};

const STALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Vitrine's ladder against one ffmpeg process on the same file: wall and CPU time, peak
    /// memory, time until the lowest rung is playable, and each rung's SSIM against the source.
    Transcode {
        file: PathBuf,
        /// Short sides of the rungs (never above the source's).
        #[arg(long, value_delimiter = ',', default_value = "1080,720,480,360,240")]
        ladder: Vec<u32>,
        /// Run each side this many times, alternating, and report each side's fastest run (a
        /// busy machine slows runs down; it never speeds them up).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// Keep both sides' outputs and print where they are, instead of deleting them.
        #[arg(long)]
        keep: bool,
    },
    /// The server's peak memory while it receives uploads of growing size (tus in pieces, tus in
    /// one PATCH, one-request POST): it should not grow with the size.
    Upload {
        /// Sizes of the uploads, in MiB.
        #[arg(long, value_delimiter = ',', default_value = "64,512")]
        sizes_mib: Vec<u64>,
    },
    /// The feed under load: seeds a platform (`vitrine seed`), serves it, measures event ingest
    /// over HTTP, then drives `GET /v1/feed` at a fixed rate with oha.
    Feed(crate::bench_feed::FeedBenchArgs),
    /// One Vitrine transcode, run as a child of `bench transcode` so that its memory is its own.
    #[command(hide = true)]
    TranscodeOnce {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_delimiter = ',')]
        ladder: Vec<u32>,
    },
}

/// Runs a benchmark command. Blocking: call it from a dedicated thread.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Transcode {
            file,
            ladder,
            runs,
            keep,
        } => compare_transcode(&file, &ladder, runs, keep),
        BenchCommand::TranscodeOnce { file, out, ladder } => transcode_once(&file, &out, &ladder),
        BenchCommand::Upload { sizes_mib } => crate::bench_upload::run(&sizes_mib),
        BenchCommand::Feed(args) => crate::bench_feed::run(args),
    }
}

fn transcode_once(input: &Path, out_dir: &Path, short_sides: &[u32]) -> anyhow::Result<()> {
    let started = Instant::now();
    let info = probe::probe(input, probe::DEFAULT_TIMEOUT)?;
    // As the worker does: the keyframe scan that decides on copying the top rung is part of
    // the cost.
    let rungs = ladder::plan(info.width, info.height, short_sides);
    let segment = Duration::from_secs(u64::from(SEGMENT_SECONDS));
    let copy_top = remux::plan(input, &info, &rungs[0], segment).unwrap_or(None);
    if copy_top.is_some() {
        eprintln!("the top rung is a copy of the source");
    }
    let probe_seconds = started.elapsed().as_secs_f64();
    let options = TranscodeOptions {
        rungs,
        segment_seconds: SEGMENT_SECONDS,
        stall_timeout: STALL_TIMEOUT,
        copy_top,
        // A benchmark measures the whole file, whatever its length or time.
        max_duration: None,
        time_budget: None,
    };
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    pipeline::transcode(input, out_dir, &options, &mut |_| {}, &cancel)?;
    let report = OnceReport {
        probe_seconds,
        transcode_seconds: started.elapsed().as_secs_f64(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn compare_transcode(
    input: &Path,
    short_sides: &[u32],
    runs: u32,
    keep: bool,
) -> anyhow::Result<()> {
    check_ffmpeg()?;
    let source = Source::probe(input)?;
    let rungs = ladder::plan(source.width, source.height, short_sides);
    let lowest = &rungs.last().context("the ladder has no rungs")?.name;
    let work = tempfile::Builder::new()
        .prefix("vitrine-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let vitrine_dir = work.path().join("vitrine");
    let ffmpeg_dir = work.path().join("ffmpeg");

    println!("{}", describe_source(&source, &rungs));
    let ffmpeg_args = ffmpeg_ladder_args(&source, &rungs, &ffmpeg_dir)?;
    println!("ffmpeg side:\n  {}\n", shell_line("ffmpeg", &ffmpeg_args));
    let this_binary = std::env::current_exe().context("finding this binary")?;
    let vitrine_command = || {
        let mut command = Command::new(&this_binary);
        command
            .args(["bench", "transcode-once"])
            .arg(input)
            .arg("--out")
            .arg(&vitrine_dir)
            .arg("--ladder")
            .arg(join(short_sides.iter()));
        command
    };
    let ffmpeg_command = || {
        let mut command = Command::new("ffmpeg");
        command.args(&ffmpeg_args);
        command
    };

    let (mut vitrine_runs, mut ffmpeg_runs) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        eprintln!("run {run}/{runs}: Vitrine's ladder…");
        vitrine_runs.push(run_side(vitrine_command(), &vitrine_dir, lowest)?);
        eprintln!("run {run}/{runs}: ffmpeg's ladder…");
        ffmpeg_runs.push(run_side(ffmpeg_command(), &ffmpeg_dir, lowest)?);
    }

    // The outputs of the last run are on disk; x264 at a fixed bitrate makes the same ones
    // every run, so they stand for all of them.
    eprintln!("measuring SSIM against the source (both sides)…");
    let display = (source.width, source.height);
    let vitrine_ssim = ssim_against_source(&source.path, display, &mp4s(&vitrine_dir, &rungs))?;
    let ffmpeg_ssim = ssim_against_source(&source.path, display, &mp4s(&ffmpeg_dir, &rungs))?;
    let rows = rungs
        .iter()
        .zip(vitrine_ssim.iter().zip(&ffmpeg_ssim))
        .map(|(rung, (vitrine_ssim, ffmpeg_ssim))| RungRow {
            rung: rung.clone(),
            vitrine_kbps: mp4_kbps(&vitrine_dir, rung, source.duration_seconds),
            ffmpeg_kbps: mp4_kbps(&ffmpeg_dir, rung, source.duration_seconds),
            vitrine: *vitrine_ssim,
            ffmpeg: *ffmpeg_ssim,
        })
        .collect();
    let report = Report {
        duration_seconds: source.duration_seconds,
        lowest: lowest.clone(),
        vitrine: vitrine_runs,
        ffmpeg: ffmpeg_runs,
        rows,
    };
    println!("{}", report.render());

    if keep {
        let kept = work.keep();
        println!("outputs kept in {}", kept.display());
    }
    Ok(())
}

fn join(values: impl Iterator<Item = impl ToString>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}
