//! Running the graph: start it, pump its bus until the end of stream, report progress from
//! its position, and stop it (always: [`NullOnDrop`]) on the end, an error, a stall, a clip past
//! the length limit, an exhausted time budget or a cancellation.
//!
//! The bus loop blocks the calling thread, which must be a dedicated one (the worker calls
//! `pipeline::transcode` from `spawn_blocking`), never the async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::error::TranscodeError;
use super::graph::Graph;
use super::options::TranscodeOptions;
use crate::gst_util::NullOnDrop;

const BUS_POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How far past `max_duration` decoding may go before the limit is called (frame and
/// container rounding).
const DURATION_TOLERANCE: Duration = Duration::from_millis(500);

/// How a run ended, read before the pipeline stopped.
pub(super) struct Played {
    /// The media duration the pipeline reported.
    pub duration: Option<gst::ClockTime>,
    /// Each rung's video codec string, in ladder order.
    pub video_codecs: Vec<Option<String>>,
    pub audio_codec: Option<String>,
}

/// Plays `graph` to its end (see [`watch`]) and stops it.
pub(super) fn run(
    graph: &Graph,
    opts: &TranscodeOptions,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<Played, TranscodeError> {
    let playing = NullOnDrop::play(&graph.pipeline, |error| match error {
        Some(error) => bus_error(error),
        None => anyhow!("the pipeline refused to start").into(),
    })?;
    let duration = watch(graph, opts, progress, cancel)?;
    // Read the codecs while the pads still have caps: the Null state clears them.
    let (video_codecs, audio_codec) = graph.codecs();
    drop(playing);
    Ok(Played {
        duration,
        video_codecs,
        audio_codec,
    })
}

/// Runs the bus loop until end of stream; returns the media duration the pipeline reported.
fn watch(
    graph: &Graph,
    opts: &TranscodeOptions,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<Option<gst::ClockTime>, TranscodeError> {
    let pipeline = &graph.pipeline;
    let bus = pipeline.bus().context("pipeline without a bus")?;
    let mut reported = 0.0;
    let mut next_report = Instant::now();
    let mut furthest: Option<gst::ClockTime> = None;
    let mut duration: Option<gst::ClockTime> = None;
    let mut last_advance = Instant::now();
    let started = Instant::now();

    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(TranscodeError::Cancelled);
        }
        if let Some(message) = bus.timed_pop(BUS_POLL) {
            match message.view() {
                gst::MessageView::Eos(_) => {
                    progress(1.0);
                    // Short inputs can end before the first progress query.
                    let duration = pipeline
                        .query_duration::<gst::ClockTime>()
                        .filter(|d| !d.is_zero())
                        .or(duration);
                    // Not the final position: it counts the poster branch's videorate, which
                    // pads the last frame out to its 2 fps grid.
                    return Ok(duration.or(furthest));
                }
                gst::MessageView::Error(error) => {
                    if let Some(failure) = graph.shared.failure.lock().unwrap().take() {
                        return Err(failure);
                    }
                    return Err(bus_error(error));
                }
                gst::MessageView::Application(_) => {
                    if let Some(failure) = graph.shared.failure.lock().unwrap().take() {
                        return Err(failure);
                    }
                }
                gst::MessageView::Warning(warning) => {
                    tracing::warn!(
                        source = %source_path(message.src()),
                        error = %warning.error(),
                        debug = ?warning.debug(),
                        "transcode warning"
                    );
                }
                _ => {}
            }
        }

        let now = Instant::now();
        if now < next_report {
            continue;
        }
        next_report = now + PROGRESS_EVERY;
        duration = pipeline
            .query_duration::<gst::ClockTime>()
            .filter(|d| !d.is_zero())
            .or(duration);
        let position = pipeline.query_position::<gst::ClockTime>();
        if let (Some(limit), Some(at)) = (opts.max_duration, position) {
            if Duration::from(at) > limit + DURATION_TOLERANCE {
                return Err(TranscodeError::Media(format!(
                    "the video runs longer than the limit of {} s",
                    limit.as_secs()
                )));
            }
        }
        if let Some(budget) = opts.time_budget {
            if now.duration_since(started) > budget {
                return Err(TranscodeError::OverBudget(budget));
            }
        }
        if position.is_some() && position > furthest {
            furthest = position;
            last_advance = now;
        } else if now.duration_since(last_advance) >= opts.stall_timeout {
            // Written only when GST_DEBUG_DUMP_DOT_DIR is set: the graph shows where data stopped.
            pipeline.debug_to_dot_file(gst::DebugGraphDetails::all(), "vitrine-transcode-stalled");
            // Not one frame decoded: the input is at fault. decodebin 1.22 sometimes swallows a
            // demuxer's error on broken files (it filters errors from elements it is still
            // plugging), which leaves the pipeline waiting for data that never comes.
            if graph.shared.video_frames.load(Ordering::Relaxed) == 0 {
                return Err(TranscodeError::Media(format!(
                    "no video frame could be decoded in {} s",
                    opts.stall_timeout.as_secs()
                )));
            }
            return Err(TranscodeError::Stalled(opts.stall_timeout));
        }
        if let (Some(position), Some(duration)) = (furthest, duration) {
            // 1.0 is kept for the end of stream: the muxers still have work after the last frame.
            let fraction =
                (position.nseconds() as f64 / duration.nseconds() as f64).clamp(0.0, 0.99);
            if fraction > reported {
                reported = fraction;
                progress(fraction);
            }
        }
    }
}

/// An error message from the bus: problems writing or reading files are ours (retry later),
/// anything else is the input's fault.
fn bus_error(error: &gst::message::Error) -> TranscodeError {
    // GStreamer's message first (it is written for people), then where and why for us.
    let text = format!(
        "{} [{}: {}]",
        error.error(),
        source_path(error.src()),
        error.debug().as_deref().unwrap_or("no details")
    );
    if error.error().kind::<gst::ResourceError>().is_some() {
        TranscodeError::Internal(anyhow!(text))
    } else {
        TranscodeError::Media(text)
    }
}

fn source_path(source: Option<&gst::Object>) -> String {
    source.map_or_else(|| "pipeline".into(), |s| s.path_string().to_string())
}
