//! Transcoding one upload into the H.264/AAC ladder in a single pass: one decode feeds every rung,
//! each rung is encoded once and muxed twice (HLS segments and a progressive MP4), audio is encoded
//! once and shared, and a poster, a storyboard and a preview are made from the first seconds.
//!
//! Everything here blocks: [`transcode`] runs the GStreamer bus loop on the calling thread, so call
//! it from a dedicated thread (`spawn_blocking`), never from the async runtime.
//!
//! - `graph`: building the GStreamer graph (its diagram opens the module).
//! - `frames`: the branches that collect frames for the still images, and the images.
//! - `run`: running the graph: the bus loop, progress, errors, limits.
//! - `outputs`: the finished files: VOD media playlists, the master, the list to upload.
//! - `options`, `error`: what a transcode is asked to do, and how it fails.

mod error;
mod frames;
mod graph;
mod options;
mod outputs;
mod run;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, Context as _};

pub use error::TranscodeError;
pub use options::TranscodeOptions;
pub use outputs::{OutputFile, Rendition, TranscodeOutput, MASTER_PLAYLIST};

use crate::container;
use crate::probe;
use graph::Graph;

/// A clip that decodes to at least this share of its announced duration is complete.
const COMPLETE_FRACTION: f64 = 0.97;
/// A clip cut short is kept (as what decodes) if at least this share of it decodes.
const SALVAGE_FRACTION: f64 = 0.5;

/// Transcodes `input` into `out_dir` (`hls/`, `mp4/`, `poster.jpg`), calling `progress` with the
/// fraction done (increasing, 1.0 at the end) about four times a second. Setting `cancel` stops
/// the work within ~100 ms. On error, partial files may be left in `out_dir`.
pub fn transcode(
    input: &Path,
    out_dir: &Path,
    opts: &TranscodeOptions,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<TranscodeOutput, TranscodeError> {
    probe::init()?;
    if opts.rungs.is_empty() {
        return Err(anyhow!("the ladder has no rungs").into());
    }
    // A path that does not exist would only surface as a vague filesrc error. (A FIFO is fine:
    // filesrc streams it, and the stall tests use one to simulate a source that hangs.)
    if !input.exists() || input.is_dir() {
        return Err(anyhow!("input {} is not a file", input.display()).into());
    }
    for dir in ["hls", "mp4"] {
        let dir = out_dir.join(dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let graph = Graph::build(input, out_dir, opts)?;
    let played = run::run(&graph, opts, progress, cancel)?;

    if graph.shared.video_frames.load(Ordering::Relaxed) == 0 {
        return Err(TranscodeError::Media(
            "the video stream has no frames that could be decoded".into(),
        ));
    }
    let decoded_ms = graph.shared.decoded_end_ns.load(Ordering::Relaxed) / 1_000_000;
    let duration_ms = salvaged_duration(input, played.duration.map(|d| d.mseconds()), decoded_ms)?;
    let images = frames::write_images(&graph.shared.frames, duration_ms, out_dir)?;
    let renditions = outputs::finish_renditions(
        out_dir,
        &opts.rungs,
        played.video_codecs,
        played.audio_codec.as_deref(),
    )?;

    Ok(TranscodeOutput {
        renditions,
        master_playlist: MASTER_PLAYLIST.into(),
        poster: images.poster,
        posters: images.posters,
        preview: images.preview,
        storyboard: images.storyboard,
        duration_ms,
        files: outputs::list_outputs(out_dir)?,
    })
}

/// The clip's duration as it came out. A file cut short (or damaged past some point) decodes to
/// less than it announces: if most of it decoded, the video is what decoded; if not, it fails
/// with how much was there.
fn salvaged_duration(
    input: &Path,
    announced_ms: Option<u64>,
    decoded_ms: u64,
) -> Result<i64, TranscodeError> {
    let as_i64 = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
    let Some(announced_ms) = announced_ms.filter(|&ms| ms > 0) else {
        return Ok(as_i64(decoded_ms));
    };
    // Stream ends can trail the announced duration by a frame or an audio packet.
    if decoded_ms as f64 >= announced_ms as f64 * COMPLETE_FRACTION {
        return Ok(as_i64(announced_ms));
    }
    let fraction = decoded_ms as f64 / announced_ms as f64;
    if fraction >= SALVAGE_FRACTION {
        tracing::info!(
            decoded_ms,
            announced_ms,
            "salvaged the part of the clip that decodes"
        );
        return Ok(as_i64(decoded_ms));
    }
    let seconds = |ms: u64| ms as f64 / 1000.0;
    let reason = match container::truncation(input) {
        Ok(Some(cut)) => format!(
            "the file is truncated at {} %: only {:.1} s of its {:.1} s could be played; upload \
             the whole file again",
            cut.percent,
            seconds(decoded_ms),
            seconds(announced_ms)
        ),
        _ => format!(
            "the file is damaged: only {:.1} s of its {:.1} s ({:.0} %) could be decoded",
            seconds(decoded_ms),
            seconds(announced_ms),
            fraction * 100.0
        ),
    };
    Err(TranscodeError::Media(reason))
}
