//! The benchmark's report: every run when there were several, each side's fastest run side by
//! side, each rung's bitrate and SSIM, and the goals of issue 3.

use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use vitrine_transcode::ladder::{self, Rung, X264_PRESET};

use super::ffmpeg::Ssim;
use super::job::{Source, SEGMENT_SECONDS};
use super::measure::Measured;

/// The goals (issue 3, "Speed").
const GOAL_WALL_RATIO: f64 = 1.0;
const GOAL_PLAYABLE_FRACTION: f64 = 0.3;
const GOAL_SSIM_GAP: f64 = 0.005;

pub(super) struct RungRow {
    pub rung: Rung,
    pub vitrine_kbps: Option<f64>,
    pub ffmpeg_kbps: Option<f64>,
    pub vitrine: Ssim,
    pub ffmpeg: Ssim,
}

pub(super) struct Report {
    pub duration_seconds: f64,
    pub lowest: String,
    /// Every run of each side, in order.
    pub vitrine: Vec<Measured>,
    pub ffmpeg: Vec<Measured>,
    pub rows: Vec<RungRow>,
}

impl Report {
    pub(super) fn render(&self) -> String {
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
        out.push_str(&format!(
            "(target: video kbit/s asked of x264; V/F kb/s: whole MP4 with its {}k audio over \
                 the clip;\n SSIM: All (Y,U,V) at the source's display size; \
                 diff = Vitrine - ffmpeg)\n",
            ladder::AUDIO_BITRATE / 1000
        ));
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

pub(super) fn describe_source(source: &Source, rungs: &[Rung]) -> String {
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
