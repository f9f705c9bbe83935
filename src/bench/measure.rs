//! Running one side of the benchmark as a child process and measuring it: wall and CPU time,
//! peak memory (its own, from `wait4`), when the lowest rung's first segment appeared, and how
//! busy the rest of the machine was meanwhile.

use std::fs::{self, File};
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use vitrine_transcode::ladder::Rung;

const POLL_EVERY: Duration = Duration::from_millis(20);

/// What `transcode-once` reports on stdout: its own view of where the time went.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OnceReport {
    pub probe_seconds: f64,
    pub transcode_seconds: f64,
}

/// How one run of one side went.
pub(super) struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: i64,
    pub first_segment: FirstSegmentTimes,
    /// CPU time the rest of the machine used meanwhile (other processes, and time the
    /// hypervisor gave to other guests): how much the run had to share its cores.
    pub others_cpu: Option<Duration>,
    /// Vitrine's own account of where its time went (`None` for ffmpeg).
    pub inner: Option<OnceReport>,
}

/// Runs one side into a fresh `out_dir` (`hls/`, `mp4/`), watching for `lowest`'s first segment.
pub(super) fn run_side(command: Command, out_dir: &Path, lowest: &str) -> anyhow::Result<Measured> {
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
pub(super) struct FirstSegmentTimes {
    /// The segment file was created (its first bytes are being written).
    pub created: Option<Duration>,
    /// The media playlist lists a segment: a player can start. This is "playable".
    pub listed: Option<Duration>,
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

/// Average bitrate of a rung's MP4 (video and audio), in kbit/s.
pub(super) fn mp4_kbps(out_dir: &Path, rung: &Rung, seconds: f64) -> Option<f64> {
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
