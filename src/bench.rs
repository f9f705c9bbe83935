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

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use serde::{Deserialize, Serialize};
use vitrine_transcode::gst_util::path_str;
use vitrine_transcode::ladder::{self, Rung, X264_PRESET};
use vitrine_transcode::pipeline::{self, TranscodeOptions};
use vitrine_transcode::{probe, remux};

/// Segment length, also the keyframe interval, on both sides (Vitrine's default).
const SEGMENT_SECONDS: u32 = 2;
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// x264enc's `vbv-buf-capacity` default: with `pass=cbr`, Vitrine's encoders run ABR with the VBV
/// max rate equal to the bitrate and a buffer this long. ffmpeg gets the same limits.
const X264ENC_VBV_BUFFER_MS: u32 = 600;
const POLL_EVERY: Duration = Duration::from_millis(20);
/// The issue's goals (issue 3, "Speed").
const GOAL_WALL_RATIO: f64 = 1.0;
const GOAL_PLAYABLE_FRACTION: f64 = 0.3;
const GOAL_SSIM_GAP: f64 = 0.005;

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

/// What `transcode-once` reports on stdout: its own view of where the time went.
#[derive(Debug, Serialize, Deserialize)]
struct OnceReport {
    probe_seconds: f64,
    transcode_seconds: f64,
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

/// The source as both sides see it.
struct Source {
    path: PathBuf,
    /// Display size: rotation and pixel aspect applied.
    width: u32,
    height: u32,
    rotation: u32,
    codec: String,
    has_audio: bool,
    duration_seconds: f64,
    /// Constant output frame rate (numerator, denominator).
    rate: (i32, i32),
}

impl Source {
    fn probe(path: &Path) -> anyhow::Result<Self> {
        let info = probe::probe(path, probe::DEFAULT_TIMEOUT)
            .with_context(|| format!("probing {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            width: info.width,
            height: info.height,
            rotation: info.rotation,
            codec: info.video_codec,
            has_audio: info.has_audio,
            duration_seconds: info.duration_ms as f64 / 1000.0,
            rate: ladder::output_rate(info.framerate),
        })
    }

    /// Frames per GOP: one segment's worth.
    fn gop(&self) -> u32 {
        let fps = f64::from(self.rate.0) / f64::from(self.rate.1);
        ((fps * f64::from(SEGMENT_SECONDS)).round() as u32).max(1)
    }
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

fn check_ffmpeg() -> anyhow::Result<()> {
    match Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => {
            bail!("`ffmpeg -version` failed ({status}): the benchmark needs a working ffmpeg")
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => bail!(
            "ffmpeg is not on PATH: the benchmark compares against it and measures SSIM with it \
             (Debian: apt-get install ffmpeg)"
        ),
        Err(error) => Err(error).context("running ffmpeg"),
    }
}

/// The ffmpeg arguments that produce `rungs` into `out_dir` like Vitrine does: `mp4/<rung>.mp4`
/// (moov first) and `hls/<rung>.m3u8` with `hls/<rung>_NNNNN.ts` segments.
fn ffmpeg_ladder_args(
    source: &Source,
    rungs: &[Rung],
    out_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let input = path_str(&source.path)?;
    let (numer, denom) = source.rate;
    let gop = source.gop().to_string();

    // [0:v]fps,split=N[s0][s1]…; [s0]scale=W:H,setsar=1,format=yuv420p[v0]; …
    let mut graph = format!("[0:v:0]fps={numer}/{denom},split={}", rungs.len());
    for i in 0..rungs.len() {
        write!(graph, "[s{i}]")?;
    }
    for (i, rung) in rungs.iter().enumerate() {
        write!(
            graph,
            ";[s{i}]scale={}:{},setsar=1,format=yuv420p[v{i}]",
            rung.width, rung.height
        )?;
    }

    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"]
        .map(String::from)
        .into();
    args.push(input.to_owned());
    args.extend(["-filter_complex".into(), graph]);
    for i in 0..rungs.len() {
        args.extend(["-map".into(), format!("[v{i}]")]);
    }
    let audio_index = rungs.len();
    if source.has_audio {
        args.extend(["-map".into(), "0:a:0".into()]);
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            X264_PRESET,
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ]
        .map(String::from),
    );
    for (i, rung) in rungs.iter().enumerate() {
        // x264enc takes kbit/s; Vitrine rounds up.
        let kbps = rung.video_bitrate.div_ceil(1000);
        let buffer = kbps * X264ENC_VBV_BUFFER_MS / 1000;
        args.extend([
            format!("-b:v:{i}"),
            format!("{kbps}k"),
            format!("-maxrate:v:{i}"),
            format!("{kbps}k"),
            format!("-bufsize:v:{i}"),
            format!("{buffer}k"),
        ]);
    }
    if source.has_audio {
        args.extend([
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            format!("{}k", ladder::AUDIO_BITRATE / 1000),
            "-ar".into(),
            ladder::AUDIO_RATE.to_string(),
            "-ac".into(),
            ladder::AUDIO_CHANNELS.to_string(),
        ]);
    }
    // One encode per stream, muxed twice by `tee`: parameter sets go in the global header, from
    // which both the MP4 (avcC) and the MPEG-TS muxer (in-band before keyframes) take them.
    args.extend(["-flags", "+global_header", "-f", "tee"].map(String::from));

    let mut outputs = Vec::new();
    for (i, rung) in rungs.iter().enumerate() {
        let select = if source.has_audio {
            format!("{i},{audio_index}")
        } else {
            i.to_string()
        };
        let mp4 = path_str(&out_dir.join("mp4").join(format!("{}.mp4", rung.name)))?.to_owned();
        let hls = out_dir.join("hls");
        let segments = path_str(&hls.join(format!("{}_%05d.ts", rung.name)))?.to_owned();
        let playlist = path_str(&hls.join(format!("{}.m3u8", rung.name)))?.to_owned();
        for path in [&mp4, &segments, &playlist] {
            // The tee muxer's own syntax: these would split or escape the slave list.
            ensure!(
                !path.contains(['[', ']', '|', ':', '\\', '\'']),
                "output path {path} has a character the tee muxer cannot take"
            );
        }
        outputs.push(format!("[select={select}:f=mp4:movflags=+faststart]{mp4}"));
        // No hls_playlist_type=vod: ffmpeg would then write the playlist only at the end, while
        // Vitrine's hlssink2 rewrites it after every segment.
        outputs.push(format!(
            "[select={select}:f=hls:hls_time={SEGMENT_SECONDS}:hls_list_size=0:\
             hls_segment_filename={segments}]{playlist}"
        ));
    }
    args.push(outputs.join("|"));
    Ok(args)
}

/// How one run of one side went.
struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
    first_segment: FirstSegmentTimes,
    /// CPU time the rest of the machine used meanwhile (other processes, and time the
    /// hypervisor gave to other guests): how much the run had to share its cores.
    others_cpu: Option<Duration>,
    /// Vitrine's own account of where its time went (`None` for ffmpeg).
    inner: Option<OnceReport>,
}

/// Runs one side into a fresh `out_dir` (`hls/`, `mp4/`), watching for `lowest`'s first segment.
fn run_side(command: Command, out_dir: &Path, lowest: &str) -> anyhow::Result<Measured> {
    if out_dir.exists() {
        fs::remove_dir_all(out_dir).with_context(|| format!("clearing {}", out_dir.display()))?;
    }
    for sub in ["hls", "mp4"] {
        let dir = out_dir.join(sub);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let busy_before = machine_busy();
    let (mut measured, stdout) =
        run_measured(command, out_dir, &FirstSegment::new(out_dir, lowest))?;
    measured.others_cpu = busy_before
        .zip(machine_busy())
        .map(|(before, after)| after.saturating_sub(before).saturating_sub(measured.cpu));
    measured.inner = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok());
    Ok(measured)
}

/// Runs `command` to the end, with its stdout and stderr in `<log_stem>.stdout` / `.stderr`,
/// watching for `watch`'s segment meanwhile; returns the measures and the stdout. A failed exit is
/// an error that quotes the end of its stderr.
fn run_measured(
    mut command: Command,
    log_stem: &Path,
    watch: &FirstSegment,
) -> anyhow::Result<(Measured, String)> {
    let stdout_path = log_stem.with_extension("stdout");
    let stderr_path = log_stem.with_extension("stderr");
    command
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).context("creating a log file")?)
        .stderr(File::create(&stderr_path).context("creating a log file")?);

    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    let finished = AtomicBool::new(false);
    let (waited, first_segment) = thread::scope(|scope| {
        let watcher = scope.spawn(|| watch.poll(started, &finished));
        let waited = wait_with_usage(child.id());
        finished.store(true, Ordering::Relaxed);
        (waited, watcher.join())
    });
    let wall = started.elapsed();
    let (status, usage) = waited.context("waiting for the child process")?;
    let first_segment = first_segment.map_err(|_| anyhow::anyhow!("the watcher panicked"))?;

    if !status.success() {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{:?} failed ({status}):\n{}",
            command.get_program(),
            tail.join("\n")
        );
    }
    let measured = Measured {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss,
        first_segment,
        others_cpu: None,
        inner: None,
    };
    Ok((
        measured,
        fs::read_to_string(&stdout_path).unwrap_or_default(),
    ))
}

/// `waitpid` that also returns the child's own resource usage: unlike
/// `getrusage(RUSAGE_CHILDREN)`, whose `ru_maxrss` is the largest of every child so far, this
/// one belongs to `pid` alone.
fn wait_with_usage(pid: u32) -> io::Result<(ExitStatus, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut status = 0;
    // SAFETY: `rusage` is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; `pid` is our own child, not yet reaped.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

/// The lowest rung's first HLS segment, watched from outside the process that writes it.
struct FirstSegment {
    /// `hls/<rung>_00000.ts`: both hlssink2 and ffmpeg number from 0 with five digits.
    segment: PathBuf,
    /// `hls/<rung>.m3u8`: rewritten by both after every finished segment.
    playlist: PathBuf,
}

#[derive(Debug, Default, Clone, Copy)]
struct FirstSegmentTimes {
    /// The segment file was created (its first bytes are being written).
    created: Option<Duration>,
    /// The media playlist lists a segment: a player can start. This is "playable".
    listed: Option<Duration>,
}

impl FirstSegment {
    fn new(out_dir: &Path, rung: &str) -> Self {
        let hls = out_dir.join("hls");
        Self {
            segment: hls.join(format!("{rung}_00000.ts")),
            playlist: hls.join(format!("{rung}.m3u8")),
        }
    }

    fn poll(&self, started: Instant, finished: &AtomicBool) -> FirstSegmentTimes {
        let mut times = FirstSegmentTimes::default();
        while !finished.load(Ordering::Relaxed) {
            if times.created.is_none() && self.segment.exists() {
                times.created = Some(started.elapsed());
            }
            if times.listed.is_none()
                && fs::read_to_string(&self.playlist).is_ok_and(|text| text.contains("#EXTINF"))
            {
                times.listed = Some(started.elapsed());
                // A segment listed was created, even if it was written within one poll.
                times.created.get_or_insert(started.elapsed());
                break;
            }
            thread::sleep(POLL_EVERY);
        }
        times
    }
}

/// One rung's SSIM against the source, both at the source's display size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ssim {
    y: f64,
    all: f64,
}

fn mp4s(out_dir: &Path, rungs: &[Rung]) -> Vec<PathBuf> {
    rungs
        .iter()
        .map(|rung| out_dir.join("mp4").join(format!("{}.mp4", rung.name)))
        .collect()
}

/// SSIM of each rendition against the source, in one ffmpeg run (the source is decoded once).
///
/// Every rendition is scaled back up to the source's display size with the same scaler, and
/// compared with the source as ffmpeg shows it: rotation applied (ffmpeg autorotates input),
/// pixel aspect squared. Timestamps start at zero on both inputs, so an encoder delay or an edit
/// list does not shift the frame pairs.
fn ssim_against_source(
    source: &Path,
    (width, height): (u32, u32),
    renditions: &[PathBuf],
) -> anyhow::Result<Vec<Ssim>> {
    for rendition in renditions {
        ensure!(
            rendition.is_file(),
            "{} was not produced",
            rendition.display()
        );
    }
    let normalise = format!(
        "setpts=PTS-STARTPTS,settb=AVTB,scale={width}:{height}:flags=bicubic,\
         setsar=1,format=yuv420p"
    );
    let mut graph = format!("[0:v:0]{normalise},split={}", renditions.len());
    for i in 0..renditions.len() {
        write!(graph, "[ref{i}]")?;
    }
    for i in 0..renditions.len() {
        let input = i + 1;
        write!(
            graph,
            ";[{input}:v:0]{normalise}[dist{i}];[dist{i}][ref{i}]ssim@r{i}=shortest=1"
        )?;
    }

    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostdin", "-nostats", "-i"]);
    command.arg(source);
    for rendition in renditions {
        command.arg("-i").arg(rendition);
    }
    command.args(["-filter_complex", &graph, "-an", "-f", "null", "-"]);
    let output = command.output().context("running ffmpeg for SSIM")?;
    let log = String::from_utf8_lossy(&output.stderr);
    let tail = || log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
    ensure!(
        output.status.success(),
        "ffmpeg's SSIM run failed ({}):\n{}",
        output.status,
        tail()
    );
    renditions
        .iter()
        .enumerate()
        .map(|(i, rendition)| {
            parse_ssim(&log, &format!("r{i}")).with_context(|| {
                format!(
                    "no SSIM for {} in ffmpeg's log:\n{}",
                    rendition.display(),
                    tail()
                )
            })
        })
        .collect()
}

/// Reads `[ssim@<id> @ 0x…] SSIM Y:0.97 (15.1) U:… V:… All:0.969658 (15.18)` from ffmpeg's log.
fn parse_ssim(log: &str, id: &str) -> Option<Ssim> {
    let prefix = format!("[ssim@{id} @");
    let line = log
        .lines()
        .find_map(|line| Some(&line[line.find(&prefix)?..]))?;
    let value = |key: &str| -> Option<f64> {
        let start = line.find(key)? + key.len();
        line[start..].split_whitespace().next()?.parse().ok()
    };
    Some(Ssim {
        y: value(" Y:")?,
        all: value(" All:")?,
    })
}

/// Average bitrate of a rung's MP4 (video and audio), in kbit/s.
fn mp4_kbps(out_dir: &Path, rung: &Rung, seconds: f64) -> Option<f64> {
    let bytes = fs::metadata(out_dir.join("mp4").join(format!("{}.mp4", rung.name)))
        .ok()?
        .len();
    (seconds > 0.0).then(|| bytes as f64 * 8.0 / seconds / 1000.0)
}

/// CPU time the whole machine has spent busy since boot, from `/proc/stat`: user, nice, system,
/// irq, softirq and steal (guest time is already counted in user and nice).
fn machine_busy() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let &[user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks.as_slice() else {
        return None;
    };
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    let busy = user + nice + system + irq + softirq + steal;
    Some(Duration::from_secs_f64(busy as f64 / per_second as f64))
}

struct RungRow {
    rung: Rung,
    vitrine_kbps: Option<f64>,
    ffmpeg_kbps: Option<f64>,
    vitrine: Ssim,
    ffmpeg: Ssim,
}

struct Report {
    duration_seconds: f64,
    lowest: String,
    /// Every run of each side, in order.
    vitrine: Vec<Measured>,
    ffmpeg: Vec<Measured>,
    rows: Vec<RungRow>,
}

impl Report {
    fn render(&self) -> String {
        let mut out = String::new();
        if self.vitrine.len() > 1 {
            out.push_str(&self.render_runs());
        }
        out.push_str(&self.render_summary());
        out.push_str(&self.render_rungs());
        out.push_str(&self.render_goals());
        out
    }

    /// Each side's fastest run (wall time).
    fn best(&self) -> (&Measured, &Measured) {
        let fastest = |runs: &[Measured]| -> usize {
            (0..runs.len())
                .min_by_key(|&i| runs[i].wall)
                .unwrap_or_default()
        };
        (
            &self.vitrine[fastest(&self.vitrine)],
            &self.ffmpeg[fastest(&self.ffmpeg)],
        )
    }

    fn render_runs(&self) -> String {
        let mut out = format!(
            "{:<10}{:>5}{:>10}{:>10}{:>10}{:>11}{:>15}\n",
            "side", "run", "wall s", "CPU s", "peak MB", "playable s", "others' CPU s"
        );
        for (side, runs) in [("Vitrine", &self.vitrine), ("ffmpeg", &self.ffmpeg)] {
            for (i, run) in runs.iter().enumerate() {
                writeln!(
                    out,
                    "{side:<10}{:>5}{:>10.2}{:>10.2}{:>10.1}{:>11}{:>15}",
                    i + 1,
                    run.wall.as_secs_f64(),
                    run.cpu.as_secs_f64(),
                    mib(run.peak_rss_kib),
                    fmt_opt(run.first_segment.listed.map(|d| d.as_secs_f64()), 2),
                    fmt_opt(run.others_cpu.map(|d| d.as_secs_f64()), 1),
                )
                .expect("writing to a String");
            }
        }
        out.push_str("(the summary below takes each side's fastest run)\n\n");
        out
    }

    fn render_summary(&self) -> String {
        let (v, f) = self.best();
        let secs = |d: Duration| Some(d.as_secs_f64());
        let opt_secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let mut out = format!(
            "{:<34}{:>10}{:>10}{:>8}\n",
            "", "Vitrine", "ffmpeg", "ratio"
        );
        let mut row = |label: &str, vitrine: Option<f64>, ffmpeg: Option<f64>, ratio: bool| {
            let ratio = match (ratio, vitrine, ffmpeg) {
                (true, Some(a), Some(b)) if b > 0.0 => format!("{:>8.2}", a / b),
                _ => String::new(),
            };
            writeln!(
                out,
                "{label:<34}{:>10}{:>10}{ratio}",
                fmt_opt(vitrine, 2),
                fmt_opt(ffmpeg, 2)
            )
            .expect("writing to a String");
        };
        row("wall time (s)", secs(v.wall), secs(f.wall), true);
        row("CPU time, user+sys (s)", secs(v.cpu), secs(f.cpu), true);
        row(
            "peak memory, max RSS (MB)",
            Some(mib(v.peak_rss_kib)),
            Some(mib(f.peak_rss_kib)),
            true,
        );
        row(
            &format!("first {} segment created (s)", self.lowest),
            opt_secs(v.first_segment.created),
            opt_secs(f.first_segment.created),
            false,
        );
        row(
            &format!("{} playable, listed (s)", self.lowest),
            opt_secs(v.first_segment.listed),
            opt_secs(f.first_segment.listed),
            true,
        );
        row(
            "other processes' CPU meanwhile (s)",
            opt_secs(v.others_cpu),
            opt_secs(f.others_cpu),
            false,
        );
        if let Some(inner) = &v.inner {
            writeln!(
                out,
                "(inside Vitrine's process: probe {:.2} s, pipeline::transcode {:.2} s)",
                inner.probe_seconds, inner.transcode_seconds
            )
            .expect("writing to a String");
        }
        out
    }

    fn render_rungs(&self) -> String {
        let mut out = format!(
            "\n{:<7}{:>11}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}\n",
            "rung", "size", "target", "V kb/s", "F kb/s", "SSIM V", "SSIM F", "diff", "Y diff"
        );
        for r in &self.rows {
            writeln!(
                out,
                "{:<7}{:>11}{:>9}{:>9}{:>9}{:>9.4}{:>9.4}{:>+9.4}{:>+9.4}",
                r.rung.name,
                format!("{}x{}", r.rung.width, r.rung.height),
                r.rung.video_bitrate.div_ceil(1000),
                fmt_opt(r.vitrine_kbps, 0),
                fmt_opt(r.ffmpeg_kbps, 0),
                r.vitrine.all,
                r.ffmpeg.all,
                r.vitrine.all - r.ffmpeg.all,
                r.vitrine.y - r.ffmpeg.y,
            )
            .expect("writing to a String");
        }
        out.push_str(
            "(target: video kbit/s asked of x264; V/F kb/s: whole MP4 with its 128k audio over \
             the clip;\n SSIM: All (Y,U,V) at the source's display size; \
             diff = Vitrine - ffmpeg)\n",
        );
        out
    }

    fn render_goals(&self) -> String {
        let (v, f) = self.best();
        let wall_ratio = v.wall.as_secs_f64() / f.wall.as_secs_f64();
        let playable_limit = GOAL_PLAYABLE_FRACTION * self.duration_seconds;
        let playable = v.first_segment.listed.map(|d| d.as_secs_f64());
        let worst_gap = self
            .rows
            .iter()
            .map(|r| r.vitrine.all - r.ffmpeg.all)
            .fold(f64::INFINITY, f64::min);
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        format!(
            "\ngoals (issue 3):\n  \
             wall time <= {GOAL_WALL_RATIO:.1} x ffmpeg's: {} ({wall_ratio:.2} x)\n  \
             playable <= {GOAL_PLAYABLE_FRACTION} x {:.1} s = {playable_limit:.1} s: {} ({} s)\n  \
             SSIM within {GOAL_SSIM_GAP} of ffmpeg's on every rung: {} \
             (worst diff {worst_gap:+.4})\n",
            met(wall_ratio <= GOAL_WALL_RATIO),
            self.duration_seconds,
            met(playable.is_some_and(|p| p <= playable_limit)),
            fmt_opt(playable, 2),
            met(worst_gap >= -GOAL_SSIM_GAP),
        )
    }
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn describe_source(source: &Source, rungs: &[Rung]) -> String {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let ladder: Vec<String> = rungs
        .iter()
        .map(|r| {
            format!(
                "{} {}x{} @ {} kb/s",
                r.name,
                r.width,
                r.height,
                r.video_bitrate.div_ceil(1000)
            )
        })
        .collect();
    format!(
        "source: {} ({}x{} shown, rotation {}, {}, {:.2} s, output {}/{} fps, audio: {})\n\
         ladder: {}\n\
         machine: {cpus} CPUs; x264 preset {X264_PRESET}, GOP {} frames, \
         {SEGMENT_SECONDS} s segments\n",
        source.path.display(),
        source.width,
        source.height,
        source.rotation,
        source.codec,
        source.duration_seconds,
        source.rate.0,
        source.rate.1,
        if source.has_audio { "yes" } else { "no" },
        ladder.join(", "),
        source.gop(),
    )
}

/// `program arg…` as one line a POSIX shell runs the same way.
fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().map(|arg| shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn join(values: impl Iterator<Item = impl ToString>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSIM_LOG: &str = "  ssim:default -> Stream #0:0 (wrapped_avframe)\n\
        [ssim@r1 @ 0x55a3f8dfb140] SSIM Y:0.947622 (12.808478) U:0.953649 (13.339401) \
        V:0.940538 (12.257636) All:0.947446 (12.793911)\n\
        [ssim@r0 @ 0x55a3f8df9b80] SSIM Y:0.967655 (14.901962) U:0.977653 (16.507888) \
        V:0.969676 (15.182134) All:0.969658 (15.179616)\n";

    fn portrait_source(has_audio: bool) -> Source {
        Source {
            path: PathBuf::from("/in/clip.mp4"),
            width: 1080,
            height: 1920,
            rotation: 0,
            codec: "H.264".into(),
            has_audio,
            duration_seconds: 30.0,
            rate: (30, 1),
        }
    }

    #[test]
    fn each_rungs_ssim_is_read_from_its_own_filter() {
        assert_eq!(
            parse_ssim(SSIM_LOG, "r0"),
            Some(Ssim {
                y: 0.967655,
                all: 0.969658
            })
        );
        assert_eq!(parse_ssim(SSIM_LOG, "r1").map(|s| s.all), Some(0.947446));
        assert_eq!(parse_ssim(SSIM_LOG, "r2"), None);
    }

    #[test]
    fn ffmpeg_gets_vitrines_bitrates_vbv_and_gop() {
        let source = portrait_source(true);
        let rungs = ladder::plan(1080, 1920, &[720, 360]);
        let args = ffmpeg_ladder_args(&source, &rungs, Path::new("/out")).unwrap();
        let line = args.join(" ");
        // The pipeline's own settings, read from it.
        assert!(
            line.contains(&format!(
                "-preset {X264_PRESET} -g 60 -keyint_min 60 -sc_threshold 0"
            )),
            "{line}"
        );
        let audio = format!(
            "-c:a aac -b:a {}k -ar {} -ac {}",
            ladder::AUDIO_BITRATE / 1000,
            ladder::AUDIO_RATE,
            ladder::AUDIO_CHANNELS
        );
        assert!(line.contains(&audio), "{line}");
        // 720x1280 at 0.1 bit per pixel: 2765 kbit/s, VBV buffer 600 ms of it.
        assert!(
            line.contains("-b:v:0 2765k -maxrate:v:0 2765k -bufsize:v:0 1659k"),
            "{line}"
        );
        assert!(
            line.contains("split=2[s0][s1];[s0]scale=720:1280"),
            "{line}"
        );
        let tee = args.last().unwrap();
        assert!(tee.starts_with("[select=0,2:f=mp4:movflags=+faststart]/out/mp4/720p.mp4|"));
        assert!(tee.contains("[select=1,2:f=hls:hls_time=2:hls_list_size=0:"));
        assert!(tee.ends_with("]/out/hls/360p.m3u8"), "{tee}");
    }

    #[test]
    fn without_audio_ffmpeg_maps_and_selects_video_only() {
        let source = portrait_source(false);
        let rungs = ladder::plan(1080, 1920, &[360]);
        let args = ffmpeg_ladder_args(&source, &rungs, Path::new("/out")).unwrap();
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "aac"));
        assert!(args.last().unwrap().starts_with("[select=0:f=mp4"));
    }

    #[test]
    fn the_printed_command_survives_a_shell() {
        assert_eq!(shell_quote("-y"), "-y");
        assert_eq!(shell_quote("[v0]"), "'[v0]'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
