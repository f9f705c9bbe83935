//! Transcoding one upload into the H.264/AAC ladder in a single pass: one decode feeds every rung,
//! each rung is encoded once and muxed twice (HLS segments and a progressive MP4), audio is encoded
//! once and shared, and a poster is picked from the first seconds.
//!
//! Everything here blocks: [`transcode`] runs the GStreamer bus loop on the calling thread, so call
//! it from a dedicated thread (`spawn_blocking`), never from the async runtime.

// filesrc ! decodebin         the first video and the first audio pad; other pads to a fakesink
//   video ! queue ! videoconvert ! videoflip video-direction=auto ! videorate
//         ! capsfilter(constant rate, at most 60 fps) ! tee name=v
//     per rung (scaled from v, or from the scaled frames s of a rung at least twice as large):
//     v. ! queue ! videoscale ! capsfilter(W x H, 1:1, I420) ! tee name=s ! queue ! x264enc
//        ! tee name=e
//       e. ! queue ! h264parse ! hlssink2.video        hls/<rung>_%05d.ts, hls/<rung>.m3u8
//       e. ! queue ! h264parse ! mp4mux faststart=true ! filesink    mp4/<rung>.mp4
//     poster:
//     v. ! videorate ! capsfilter(2 fps) ! queue ! videoconvert ! videoscale
//        ! capsfilter(RGB, top rung size) ! appsink    frames of the first 3 s
//     storyboard:
//     v. ! videorate ! capsfilter(1 fps) ! queue ! videoconvert ! videoscale
//        ! capsfilter(RGB, 160 wide) ! appsink         sprite sheet + WebVTT track
//     preview:
//     v. ! videorate ! capsfilter(10 fps) ! queue ! videoconvert ! videoscale
//        ! capsfilter(RGB, ≤ 320 wide) ! appsink       animated WebP of the first 3 s
//   audio ! queue ! audioconvert ! audioresample ! capsfilter(48 kHz, stereo) ! avenc_aac
//         ! tee name=a
//     per rung:
//     a. ! queue ! aacparse ! hlssink2.audio
//     a. ! queue ! aacparse ! mp4mux.audio_0
//
// The parsers sit after the tees, one per branch: mpegtsmux (inside hlssink2) wants byte-stream
// H.264 and mp4mux wants avc, and a parser shared by both makes caps negotiation fail.
//
// decodebin, not decodebin3: in GStreamer 1.22, decodebin3 fails with not-negotiated on files with
// metadata tracks it cannot handle (iPhone .mov "mebx" tracks), where decodebin skips them.
// videoconvert comes before videoflip, which does not take every decoder format (VP9 alpha's A420).
//
// Keyframes align across rungs because every encoder sees the same frames with the same fixed GOP
// (key-int-max = one segment of frames, scenecut=0) and hlssink2 does not request extra ones.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_pbutils as pbutils;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::container;
use crate::gst_util::{discard, link_first_h264, make, path_str, NullOnDrop};
use crate::images::{self, PosterImage};
use crate::ladder::{self, Rung};
use crate::poster::{self, RgbFrame};
use crate::probe;
use crate::storyboard::{self, Thumb};

const AUDIO_RATE: i32 = 48_000;
const AUDIO_CHANNELS: i32 = 2;
const AUDIO_BITRATE: i32 = 128_000;
/// The animated preview: the first 3 s at 10 fps, at most 320 px wide.
const PREVIEW_FPS: i32 = 10;
const PREVIEW_MAX_FRAMES: usize = 30;
const PREVIEW_WIDTH: u32 = 320;
const PREVIEW_FILE: &str = "preview.webp";
/// Poster widths besides the top rung's own (for `srcset`).
const POSTER_WIDTHS: [u32; 3] = [720, 480, 320];
/// Storyboard tiles: one a second (thinned for long clips), at most this many, this wide.
const STORYBOARD_MAX: usize = 200;
const STORYBOARD_WIDTH: u32 = 160;
/// Poster candidates: two frames a second from the first three seconds.
const POSTER_FPS: i32 = 2;
const POSTER_WINDOW: gst::ClockTime = gst::ClockTime::from_seconds(3);
const POSTER_MAX_FRAMES: usize = 6;
/// Name of the audio branch's first element.
const AUDIO_IN: &str = "audio-in";
const STORYBOARD_IMAGE: &str = "storyboard.jpg";
const STORYBOARD_VTT: &str = "storyboard.vtt";
const BUS_POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Muxers wait for both audio and video, and x264's lookahead delays video by a second or two:
/// the queues in front of them hold time, not a buffer count, so neither stream starves the other.
const MUX_QUEUE_TIME: gst::ClockTime = gst::ClockTime::from_seconds(10);

/// How to transcode.
#[derive(Debug, Clone)]
pub struct TranscodeOptions {
    /// The ladder, largest first (see [`crate::ladder::plan`]).
    pub rungs: Vec<Rung>,
    /// Target HLS segment length, also the keyframe interval.
    pub segment_seconds: u32,
    /// No position progress for this long means the pipeline is stuck.
    pub stall_timeout: Duration,
    /// When set, the top rung is the source's own H.264, copied, and this is its GOP in frames
    /// (the source puts a keyframe every that many frames): every other rung uses the same GOP,
    /// so keyframes align (see [`crate::remux::plan`]).
    pub copy_top: Option<crate::remux::SourceGop>,
    /// The longest video accepted: checked while decoding (a file can announce no duration, or
    /// a wrong one), and the transcode fails with the reason once it decodes past it.
    pub max_duration: Option<Duration>,
    /// The wall-clock time one attempt may take, whatever progress it makes.
    pub time_budget: Option<Duration>,
}

impl TranscodeOptions {
    /// Two-second segments, a one-minute stall timeout, no duration limit or time budget.
    pub fn new(rungs: Vec<Rung>) -> Self {
        Self {
            rungs,
            segment_seconds: 2,
            stall_timeout: Duration::from_secs(60),
            copy_top: None,
            max_duration: None,
            time_budget: None,
        }
    }
}

/// How far past `max_duration` decoding may go before the limit is called (frame and
/// container rounding).
const DURATION_TOLERANCE: Duration = Duration::from_millis(500);

/// How long the last frame may be repeated to reach the announced end of the clip.
const MAX_CLOSING_DUPLICATION: gst::ClockTime = gst::ClockTime::from_mseconds(250);
/// A clip that decodes to at least this share of its announced duration is complete.
const COMPLETE_FRACTION: f64 = 0.97;
/// A clip cut short is kept (as what decodes) if at least this share of it decodes.
const SALVAGE_FRACTION: f64 = 0.5;

/// The multivariant playlist, relative to the output directory.
pub const MASTER_PLAYLIST: &str = "hls/master.m3u8";

/// One rung as it came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak segment bitrate in bits/s, measured from the segments: the master playlist's
    /// BANDWIDTH.
    pub bandwidth: u32,
    /// Media playlist, relative to the output directory ("hls/720p.m3u8").
    pub playlist: String,
    /// Progressive MP4, relative to the output directory ("mp4/720p.mp4").
    pub mp4: String,
}

/// Everything one transcode produced; paths are relative to the output directory.
#[derive(Debug, Clone)]
pub struct TranscodeOutput {
    pub renditions: Vec<Rendition>,
    pub master_playlist: String,
    pub poster: String,
    /// The poster at several widths, JPEG and WebP, largest first.
    pub posters: Vec<PosterImage>,
    /// Animated WebP of the first seconds ("preview.webp").
    pub preview: Option<String>,
    /// WebVTT thumbnails track ("storyboard.vtt"); its cues point into the sprite sheet
    /// ("storyboard.jpg") next to it. `None` when no frame reached the storyboard.
    pub storyboard: Option<String>,
    pub duration_ms: i64,
    pub files: Vec<OutputFile>,
}

/// A produced file to upload, relative to the output directory with '/' separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub content_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The input cannot be transcoded; retrying will not help.
    #[error("the video cannot be transcoded: {0}")]
    Media(String),
    /// Frames were decoded, then the position stopped moving for this long; a retry may help.
    /// (A pipeline that never decodes a frame ends in `Media`.)
    #[error("transcoding made no progress for {0:?}")]
    Stalled(Duration),
    /// The attempt used its whole time budget; a retry on a less busy worker may finish.
    #[error("transcoding took longer than its budget of {0:?}")]
    OverBudget(Duration),
    #[error("transcoding was cancelled")]
    Cancelled,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

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
    let playing = NullOnDrop::play(&graph.pipeline, |error| match error {
        Some(error) => bus_error(error),
        None => anyhow!("the pipeline refused to start").into(),
    })?;
    let duration = watch(&graph, opts, progress, cancel)?;
    // Read the codecs while the pads still have caps: the Null state clears them.
    let video_codecs: Vec<Option<String>> = graph.rung_parsers.iter().map(codec_of).collect();
    let audio_codec = graph
        .shared
        .audio_codec_source
        .lock()
        .unwrap()
        .as_ref()
        .and_then(codec_of);
    drop(playing);

    if graph.shared.video_frames.load(Ordering::Relaxed) == 0 {
        return Err(TranscodeError::Media(
            "the video stream has no frames that could be decoded".into(),
        ));
    }
    let decoded_ms = graph.shared.decoded_end_ns.load(Ordering::Relaxed) / 1_000_000;
    let duration_ms = salvaged_duration(input, duration.map(|d| d.mseconds()), decoded_ms)?;
    let frames = std::mem::take(&mut *graph.shared.poster_frames.lock().unwrap());
    poster::write_poster(&frames, &out_dir.join("poster.jpg"))?;
    let thumbs = std::mem::take(&mut graph.shared.storyboard.lock().unwrap().thumbs);
    let storyboard = if thumbs.is_empty() {
        None
    } else {
        storyboard::write(
            &thumbs,
            duration_ms,
            out_dir,
            STORYBOARD_IMAGE,
            STORYBOARD_VTT,
        )?;
        Some(STORYBOARD_VTT.to_owned())
    };
    let best = poster::pick(&frames).context("no frames to make a poster from")?;
    let posters = images::write_poster_sizes(&frames[best], &POSTER_WIDTHS, out_dir)?;
    let preview_frames = std::mem::take(&mut *graph.shared.preview_frames.lock().unwrap());
    let preview = match preview_frames.last() {
        None => None,
        Some((last_ms, _)) => {
            let step = 1000 / i64::from(PREVIEW_FPS);
            let end_ms = (last_ms + step).min(duration_ms.max(last_ms + 1));
            images::write_preview(&preview_frames, end_ms, &out_dir.join(PREVIEW_FILE))?;
            Some(PREVIEW_FILE.to_owned())
        }
    };

    let mut variants = Vec::new();
    for (rung, video_codec) in opts.rungs.iter().zip(video_codecs) {
        let Some(rendition) = finish_rendition(out_dir, rung)? else {
            continue;
        };
        let video_codec =
            video_codec.with_context(|| format!("the {} encoder reported no caps", rung.name))?;
        let codecs = match &audio_codec {
            Some(audio) => format!("{video_codec},{audio}"),
            None => video_codec,
        };
        variants.push((rendition, codecs));
    }
    if variants.is_empty() {
        return Err(TranscodeError::Media("no rendition was produced".into()));
    }
    write_master_playlist(&out_dir.join(MASTER_PLAYLIST), &variants)?;

    Ok(TranscodeOutput {
        renditions: variants
            .into_iter()
            .map(|(rendition, _)| rendition)
            .collect(),
        master_playlist: MASTER_PLAYLIST.into(),
        poster: "poster.jpg".into(),
        posters,
        preview,
        storyboard,
        duration_ms,
        files: list_outputs(out_dir)?,
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

/// State shared with the streaming threads.
#[derive(Default)]
struct Shared {
    /// The audio branch's first MP4 parser, once built: its caps name the AAC profile.
    audio_codec_source: Mutex<Option<gst::Element>>,
    /// A failure found on a streaming thread; reported instead of the generic error it causes.
    failure: Mutex<Option<TranscodeError>>,
    video_frames: AtomicU64,
    /// The furthest end time of any decoded audio or video buffer, in nanoseconds.
    decoded_end_ns: AtomicU64,
    poster_frames: Mutex<Vec<RgbFrame>>,
    /// Frames let into the poster branch.
    poster_admitted: AtomicUsize,
    storyboard: Mutex<StoryboardFrames>,
    preview_frames: Mutex<Vec<(i64, RgbFrame)>>,
    /// Frames let into the preview branch.
    preview_admitted: AtomicUsize,
}

/// Storyboard frames at one a second, thinned as they come so that a long clip keeps between
/// [`STORYBOARD_MAX`]/2 and [`STORYBOARD_MAX`] evenly spaced frames in bounded memory.
#[derive(Default)]
struct StoryboardFrames {
    thumbs: Vec<Thumb>,
    /// Keep one frame in `stride`.
    stride: u64,
    seen: u64,
}

impl StoryboardFrames {
    fn offer(&mut self, at_ms: i64, frame: impl FnOnce() -> Option<RgbFrame>) {
        let stride = self.stride.max(1);
        let index = self.seen;
        self.seen += 1;
        if !index.is_multiple_of(stride) {
            return;
        }
        if let Some(frame) = frame() {
            self.thumbs.push(Thumb { at_ms, frame });
        }
        if self.thumbs.len() >= STORYBOARD_MAX {
            let mut i = 0;
            self.thumbs.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride = stride * 2;
        }
    }
}

/// Where one rung's encoded streams go.
struct RungSinks {
    hls: gst::Element,
    mp4mux: gst::Element,
    /// `None` for a rung copied from the source.
    encoder: Option<gst::Element>,
}

struct Graph {
    pipeline: gst::Pipeline,
    /// Each rung's MP4-side h264parse, in ladder order: its caps carry the avcC that the codec
    /// string (profile and level) comes from.
    rung_parsers: Vec<gst::Element>,
    shared: Arc<Shared>,
}

impl Graph {
    fn build(input: &Path, out_dir: &Path, opts: &TranscodeOptions) -> anyhow::Result<Self> {
        let pipeline = gst::Pipeline::with_name("transcode");
        let shared = Arc::new(Shared::default());

        let source = make("filesrc")
            .property("location", path_str(input)?)
            .build()?;
        // expose-all-streams stays on: turning it off makes 1.22 refuse VP9 with alpha. Streams it
        // cannot decode (metadata tracks) come out encoded and go to a fakesink.
        let decode = make("decodebin").build()?;
        pipeline.add_many([&source, &decode])?;
        source.link(&decode)?;

        // video ! queue ! videoconvert ! videoflip ! videorate ! capsfilter(constant rate) ! tee
        let video_in = make("queue").build()?;
        let convert = make("videoconvert").build()?;
        let upright = make("videoflip")
            .property_from_str("video-direction", "auto")
            .build()?;
        // Phones record at a variable rate; players and HLS segmenters want a constant one.
        // videorate duplicates or drops frames by timestamp, so audio stays in sync.
        // At the end it repeats the last frame up to where the container said the clip ends:
        // right for the last frame's own duration, wrong for a file cut short (a frozen second).
        let constant_rate = make("videorate")
            .property(
                "max-closing-segment-duplication-duration",
                MAX_CLOSING_DUPLICATION.nseconds(),
            )
            .build()?;
        let rate_caps = make("capsfilter").name("rate-caps").build()?;
        let video_tee = make("tee").build()?;
        pipeline.add_many([
            &video_in,
            &convert,
            &upright,
            &constant_rate,
            &rate_caps,
            &video_tee,
        ])?;
        gst::Element::link_many([
            &video_in,
            &convert,
            &upright,
            &constant_rate,
            &rate_caps,
            &video_tee,
        ])?;
        count_buffers(&video_in, &shared);
        keep_frames_in_order(&rate_caps);

        let mut rungs = Vec::new();
        let mut rung_parsers = Vec::new();
        // Every rung but the top is scaled from the smallest rung at least twice its size, or
        // from the decoded frames: scaling 1080x1920 four times was a tenth of the CPU time.
        let decoded = ScaleInput {
            frames: video_tee.clone(),
            rung: opts.rungs[0].clone(),
        };
        let mut scaled: Vec<ScaleInput> = Vec::new();
        for (i, rung) in opts.rungs.iter().enumerate() {
            let (sinks, mp4_parser) = match &opts.copy_top {
                Some(_) if i == 0 => build_copied_rung(&pipeline, input, rung, out_dir, opts)?,
                _ => {
                    let from = scaled
                        .iter()
                        .rev()
                        .find(|input| input.rung.width >= 2 * rung.width)
                        .unwrap_or(&decoded);
                    let (outputs, frames) = build_rung(&pipeline, from, rung, out_dir, opts)?;
                    scaled.push(ScaleInput {
                        frames,
                        rung: rung.clone(),
                    });
                    outputs
                }
            };
            rung_parsers.push(mp4_parser);
            rungs.push(sinks);
        }
        build_poster_branch(&pipeline, &video_tee, &opts.rungs[0], &shared)?;
        build_storyboard_branch(&pipeline, &video_tee, &opts.rungs[0], &shared)?;
        build_preview_branch(&pipeline, &video_tee, &opts.rungs[0], &shared)?;
        let encoders = rungs.iter().filter_map(|r| r.encoder.clone()).collect();
        start_encoders_on_caps(&pipeline, &video_in, &rate_caps, encoders, opts, &shared);

        let pipeline_weak = pipeline.downgrade();
        let pad_state = Arc::clone(&shared);
        let video_target = video_in.clone();
        decode.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            if let Err(error) = link_decoded_pad(&pipeline, pad, &video_target, &rungs, &pad_state)
            {
                report_failure(&pipeline, &pad_state, error);
            }
        });

        // Without video the muxers would wait forever: stop now, with the reason.
        let pipeline_weak = pipeline.downgrade();
        let pads_state = Arc::clone(&shared);
        decode.connect_no_more_pads(move |_| {
            let video_linked = video_in.static_pad("sink").is_some_and(|p| p.is_linked());
            if let (false, Some(pipeline)) = (video_linked, pipeline_weak.upgrade()) {
                let reason = "the file has no video stream that can be decoded";
                report_failure(&pipeline, &pads_state, TranscodeError::Media(reason.into()));
            }
        });

        Ok(Self {
            pipeline,
            rung_parsers,
            shared,
        })
    }
}

/// The RFC 6381 codec string ("avc1.64001f", "mp4a.40.2") of what `parser` outputs.
fn codec_of(parser: &gst::Element) -> Option<String> {
    let caps = parser.static_pad("src")?.current_caps()?;
    let codec = pbutils::functions::codec_utils_caps_get_mime_codec(&caps).ok()?;
    // GStreamer writes the avc1 profile/level hex in upper case; Apple's examples use lower.
    Some(codec.to_ascii_lowercase())
}

/// Hands a failure from a streaming thread to the bus loop, which stops on it.
fn report_failure(pipeline: &gst::Pipeline, shared: &Shared, error: TranscodeError) {
    *shared.failure.lock().unwrap() = Some(error);
    let message = gst::message::Application::new(gst::Structure::new_empty("vitrine-failure"));
    if pipeline.post_message(message).is_err() {
        tracing::warn!("could not report a pipeline failure: the bus is flushing");
    }
}

/// Starts the encoders when the decoded video's caps (or its end) arrive. key-int-max needs the
/// frame rate, and x264enc accepts it only while stopped, so the encoders are built locked in
/// `Null`. The caps event is seen here, before the queue, and reaches the encoders only after
/// they started.
fn start_encoders_on_caps(
    pipeline: &gst::Pipeline,
    video_in: &gst::Element,
    rate_caps: &gst::Element,
    encoders: Vec<gst::Element>,
    opts: &TranscodeOptions,
    shared: &Arc<Shared>,
) {
    let (segment_seconds, copied_gop) = (opts.segment_seconds, opts.copy_top);
    let rate_caps = rate_caps.clone();
    let Some(pad) = video_in.static_pad("sink") else {
        return;
    };
    let pipeline = pipeline.downgrade();
    let shared = Arc::clone(shared);
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let rate = match event.view() {
            gst::EventView::Caps(caps) => output_rate(
                caps.caps()
                    .structure(0)
                    .and_then(|s| s.get::<gst::Fraction>("framerate").ok()),
            ),
            // Video that never decodes can end without caps: the encoders must still pass the
            // end of stream on, or the muxers wait for it forever.
            gst::EventView::Eos(_) => output_rate(None),
            _ => return gst::PadProbeReturn::Ok,
        };
        // Set before the caps event travels on, so the first negotiation already has the rate.
        rate_caps.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("framerate", rate)
                .build(),
        );
        let fps = f64::from(rate.numer()) / f64::from(rate.denom());
        // One segment of frames; or, beside a copied top rung, the source's own GOP, so that
        // every rung has its keyframes on the same frames.
        let gop = copied_gop
            .map(|gop| gop.frames)
            .unwrap_or_else(|| (fps * f64::from(segment_seconds)).round() as u32)
            .max(1);
        let started = encoders.iter().try_for_each(|encoder| {
            encoder.set_property("key-int-max", gop);
            encoder.set_locked_state(false);
            encoder
                .sync_state_with_parent()
                .with_context(|| format!("starting {}", encoder.name()))
        });
        if let (Err(error), Some(pipeline)) = (started, pipeline.upgrade()) {
            report_failure(&pipeline, &shared, error.into());
        }
        gst::PadProbeReturn::Remove
    });
}

/// [`ladder::output_rate`] for a source rate from the caps.
fn output_rate(source: Option<gst::Fraction>) -> gst::Fraction {
    let (numer, denom) = ladder::output_rate(source.map(|f| (f.numer(), f.denom())));
    gst::Fraction::new(numer, denom)
}

/// Counts decoded video frames: a source whose stream never decodes ends with zero.
fn count_buffers(element: &gst::Element, shared: &Arc<Shared>) {
    let shared = Arc::clone(shared);
    if let Some(pad) = element.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            shared.video_frames.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
}

/// Drops any frame that would go back in time. videorate can emit one: with a Matroska source
/// whose first frame comes 21 ms after the stream start, it sends a frame at 0 and then restarts
/// its grid before it, and the encoders then write two frames at 0 and decode times that go
/// backwards (players stutter; fragmented-MP4 muxers refuse it).
fn keep_frames_in_order(element: &gst::Element) {
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    let last = Mutex::new(None::<gst::ClockTime>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut last = last.lock().unwrap();
        if last.is_some_and(|last| pts <= last) {
            return gst::PadProbeReturn::Drop;
        }
        *last = Some(pts);
        gst::PadProbeReturn::Ok
    });
}

/// A queue that holds up to [`MUX_QUEUE_TIME`] of data, whatever the buffer count.
fn mux_queue() -> anyhow::Result<gst::Element> {
    Ok(make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", MUX_QUEUE_TIME.nseconds())
        .build()?)
}

/// Frames a rung can be scaled from: a tee of decoded frames at (about) `rung`'s size.
struct ScaleInput {
    frames: gst::Element,
    rung: Rung,
}

/// `tee ! queue ! videoscale ! capsfilter ! tee ! queue ! x264enc ! tee`, then the HLS and MP4
/// outputs. Returns the sinks that the audio branch joins later, the MP4-side parser, and the
/// tee of scaled frames that smaller rungs can be scaled from.
fn build_rung(
    pipeline: &gst::Pipeline,
    from: &ScaleInput,
    rung: &Rung,
    out_dir: &Path,
    opts: &TranscodeOptions,
) -> anyhow::Result<((RungSinks, gst::Element), gst::Element)> {
    let queue = make("queue").build()?;
    // Even dimensions rarely keep the source's aspect ratio exactly (1080x1920 → 480x854):
    // stretch by that fraction of a pixel rather than letterbox with a black line.
    let scale = make("videoscale")
        .property("add-borders", false)
        .property_from_str("method", scale_method(&from.rung, rung))
        .build()?;
    let size = make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::I420)
                .width(i32::try_from(rung.width)?)
                .height(i32::try_from(rung.height)?)
                .pixel_aspect_ratio(gst::Fraction::new(1, 1))
                // Without it, GStreamer picks BT.601 for small frames and converts to it, while
                // the source (HD, or untagged) is BT.709: players that ignore the tag show shifted
                // colours. Every rung is BT.709, the web's default, whatever its size.
                .field("colorimetry", "bt709")
                .build(),
        )
        .build()?;
    // key-int-max is set, and the encoder started, when the frame rate is known
    // (see `start_encoders_on_caps`).
    let encoder = make("x264enc")
        .property("name", format!("x264enc-{}", rung.name))
        .property_from_str("speed-preset", ladder::X264_PRESET)
        .property("bitrate", rung.video_bitrate.div_ceil(1000))
        .property("option-string", "scenecut=0")
        .build()?;
    encoder.set_locked_state(true);
    let scaled_tee = make("tee").build()?;
    let encoder_queue = make("queue").build()?;
    let encoded_tee = make("tee").build()?;
    let chain = [
        &queue,
        &scale,
        &size,
        &scaled_tee,
        &encoder_queue,
        &encoder,
        &encoded_tee,
    ];
    pipeline.add_many(chain)?;
    gst::Element::link_many(chain)?;
    from.frames.link(&queue)?;
    Ok((
        build_rung_outputs(pipeline, &encoded_tee, Some(encoder), rung, out_dir, opts)?,
        scaled_tee,
    ))
}

/// The HLS target duration: one segment, or with a copied top rung the whole number of seconds
/// that makes segments of whole source GOPs (see [`crate::remux::SourceGop::hls_target`]). The
/// same on every rung, so segments align.
fn hls_target(opts: &TranscodeOptions) -> u32 {
    opts.copy_top.map_or(opts.segment_seconds, |gop| {
        gop.hls_target(opts.segment_seconds)
    })
}

/// videoscale's 2-tap bilinear filter is fast and good down to about a third of the size; below
/// that it aliases, and the multi-tap Catmull-Rom filter keeps what a viewer sees (and SSIM) at
/// ffmpeg's level for little cost, the output being small.
fn scale_method(from: &Rung, rung: &Rung) -> &'static str {
    if from.width.max(from.height) >= 3 * rung.width.max(rung.height) {
        "catrom"
    } else {
        "bilinear"
    }
}

/// `filesrc ! parsebin`, its H.264 stream `! queue ! h264parse ! tee`, then the HLS and MP4
/// outputs: the top rung as the source's own frames, never decoded. The source is read a second
/// time for this, which costs little next to an encode; the decode for the other rungs is
/// untouched.
fn build_copied_rung(
    pipeline: &gst::Pipeline,
    input: &Path,
    rung: &Rung,
    out_dir: &Path,
    opts: &TranscodeOptions,
) -> anyhow::Result<(RungSinks, gst::Element)> {
    let source = make("filesrc")
        .property("location", path_str(input)?)
        .build()?;
    let parse = make("parsebin").build()?;
    let queue = mux_queue()?;
    let parser = make("h264parse").build()?;
    let encoded_tee = make("tee").build()?;
    pipeline.add_many([&source, &parse, &queue, &parser, &encoded_tee])?;
    source.link(&parse)?;
    gst::Element::link_many([&queue, &parser, &encoded_tee])?;
    let copy_in = queue
        .static_pad("sink")
        .context("queue without a sink pad")?;
    link_first_h264(pipeline, &parse, copy_in);
    build_rung_outputs(pipeline, &encoded_tee, None, rung, out_dir, opts)
}

/// `encoded_tee`'s HLS and MP4 outputs for one rung (whose `encoder`, if it is encoded, is
/// started later): its sinks and the MP4-side parser.
fn build_rung_outputs(
    pipeline: &gst::Pipeline,
    encoded_tee: &gst::Element,
    encoder: Option<gst::Element>,
    rung: &Rung,
    out_dir: &Path,
    opts: &TranscodeOptions,
) -> anyhow::Result<(RungSinks, gst::Element)> {
    let hls_dir = out_dir.join("hls");
    let hls_queue = mux_queue()?;
    let hls_parser = make("h264parse").build()?;
    let hls = make("hlssink2")
        .property("name", format!("hls-{}", rung.name))
        .property("target-duration", hls_target(opts))
        .property("playlist-length", 0u32)
        .property("max-files", 0u32)
        .property("send-keyframe-requests", false)
        .property(
            "location",
            path_str(&hls_dir.join(format!("{}_%05d.ts", rung.name)))?,
        )
        .property(
            "playlist-location",
            path_str(&hls_dir.join(format!("{}.m3u8", rung.name)))?,
        )
        .build()?;
    pipeline.add_many([&hls_queue, &hls_parser, &hls])?;
    gst::Element::link_many([encoded_tee, &hls_queue, &hls_parser])?;
    link_to_request_pad(&hls_parser, &hls, "video")?;

    let mp4_path = out_dir.join("mp4").join(format!("{}.mp4", rung.name));
    let mp4_queue = mux_queue()?;
    let mp4_parser = make("h264parse").build()?;
    let mp4mux = make("mp4mux")
        .property("name", format!("mp4mux-{}", rung.name))
        .property("faststart", true)
        // Keep the moov rewrite's scratch file next to the output rather than in /tmp.
        .property(
            "faststart-file",
            path_str(&mp4_path.with_extension("mp4.moov-scratch"))?,
        )
        .build()?;
    let file = make("filesink")
        .property("location", path_str(&mp4_path)?)
        .property("async", false)
        .build()?;
    pipeline.add_many([&mp4_queue, &mp4_parser, &mp4mux, &file])?;
    gst::Element::link_many([encoded_tee, &mp4_queue, &mp4_parser])?;
    link_to_request_pad(&mp4_parser, &mp4mux, "video_%u")?;
    mp4mux.link(&file)?;
    Ok((
        RungSinks {
            hls,
            mp4mux,
            encoder,
        },
        mp4_parser,
    ))
}

/// `tee ! videorate ! capsfilter ! queue ! videoconvert ! videoscale ! capsfilter ! appsink`.
fn build_poster_branch(
    pipeline: &gst::Pipeline,
    video_tee: &gst::Element,
    top: &Rung,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    let rate = make("videorate").build()?;
    let rate_caps = make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .any_features()
                .framerate(gst::Fraction::new(POSTER_FPS, 1))
                .build(),
        )
        .build()?;
    // Unbounded, but it never sees more than POSTER_MAX_FRAMES (see the probes below). A bounded
    // queue deadlocks: the appsink holds its first frame until the whole pipeline has prerolled,
    // which needs encoded output, which needs more frames through the tee than a full queue lets
    // pass (with a 1 fps source, one second of queue is a single frame).
    let queue = make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?;
    let convert = make("videoconvert").build()?;
    let scale = make("videoscale").build()?;
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .width(i32::try_from(top.width)?)
                .height(i32::try_from(top.height)?)
                .pixel_aspect_ratio(gst::Fraction::new(1, 1))
                .build(),
        )
        .sync(false)
        .async_(false)
        .build();
    let sink_element = sink.upcast_ref::<gst::Element>();
    pipeline.add_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    gst::Element::link_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    video_tee.link(&rate)?;

    // Let the first POSTER_MAX_FRAMES frames at 2 fps in; once they are in, drop the rest of the
    // video before videorate even looks at it.
    //
    // `Handled` rather than `Drop`: gstreamer-rs already releases the buffer, and GStreamer 1.22
    // then unrefs NULL on `Drop` (a GStreamer-CRITICAL per buffer).
    let admitted = Arc::clone(shared);
    if let Some(pad) = queue.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if admitted.poster_admitted.fetch_add(1, Ordering::Relaxed) < POSTER_MAX_FRAMES {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        });
    }
    let full = Arc::clone(shared);
    if let Some(pad) = rate.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if full.poster_admitted.load(Ordering::Relaxed) >= POSTER_MAX_FRAMES {
                gst::PadProbeReturn::Handled
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    }

    let collect = Arc::clone(shared);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let running_time = sample
                    .buffer()
                    .and_then(|b| b.pts())
                    .zip(sample.segment())
                    .and_then(|(pts, segment)| {
                        segment
                            .downcast_ref::<gst::ClockTime>()?
                            .to_running_time(pts)
                    });
                let mut frames = collect.poster_frames.lock().unwrap();
                let in_window = running_time.is_none_or(|t| t < POSTER_WINDOW);
                if in_window || frames.is_empty() {
                    frames.extend(rgb_frame(&sample));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}

/// `tee ! videorate ! capsfilter(1 fps) ! queue ! videoconvert ! videoscale ! appsink`, tiles
/// [`STORYBOARD_WIDTH`] wide. Built like the poster branch (unbounded queue, non-prerolling sink),
/// for the same reason: a bounded queue here can deadlock the tee before the pipeline plays.
fn build_storyboard_branch(
    pipeline: &gst::Pipeline,
    video_tee: &gst::Element,
    top: &Rung,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    let width = STORYBOARD_WIDTH.min(top.width) & !1;
    let height =
        ((u64::from(width) * u64::from(top.height) / u64::from(top.width)) as u32).max(2) & !1;
    let rate = make("videorate").build()?;
    let rate_caps = make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .any_features()
                .framerate(gst::Fraction::new(1, 1))
                .build(),
        )
        .build()?;
    let queue = make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?;
    let convert = make("videoconvert").build()?;
    let scale = make("videoscale").build()?;
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .width(i32::try_from(width)?)
                .height(i32::try_from(height)?)
                .pixel_aspect_ratio(gst::Fraction::new(1, 1))
                .build(),
        )
        .sync(false)
        .async_(false)
        .build();
    let sink_element = sink.upcast_ref::<gst::Element>();
    pipeline.add_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    gst::Element::link_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    video_tee.link(&rate)?;

    let collect = Arc::clone(shared);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let at_ms = stream_time_ms(&sample);
                collect
                    .storyboard
                    .lock()
                    .unwrap()
                    .offer(at_ms, || rgb_frame(&sample));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}

/// `tee ! videorate(10 fps) ! capsfilter ! queue ! videoconvert ! videoscale ! appsink`: the
/// first [`PREVIEW_MAX_FRAMES`] frames, at most [`PREVIEW_WIDTH`] wide, for the animated preview.
/// Admission works like the poster branch's, and for the same reasons.
fn build_preview_branch(
    pipeline: &gst::Pipeline,
    video_tee: &gst::Element,
    top: &Rung,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    let width = PREVIEW_WIDTH.min(top.width) & !1;
    let height =
        ((u64::from(width) * u64::from(top.height) / u64::from(top.width)) as u32).max(2) & !1;
    let rate = make("videorate").build()?;
    let rate_caps = make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .any_features()
                .framerate(gst::Fraction::new(PREVIEW_FPS, 1))
                .build(),
        )
        .build()?;
    let queue = make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?;
    let convert = make("videoconvert").build()?;
    let scale = make("videoscale").build()?;
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .width(i32::try_from(width)?)
                .height(i32::try_from(height)?)
                .pixel_aspect_ratio(gst::Fraction::new(1, 1))
                .build(),
        )
        .sync(false)
        .async_(false)
        .build();
    let sink_element = sink.upcast_ref::<gst::Element>();
    pipeline.add_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    gst::Element::link_many([&rate, &rate_caps, &queue, &convert, &scale, sink_element])?;
    video_tee.link(&rate)?;

    let admitted = Arc::clone(shared);
    if let Some(pad) = queue.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if admitted.preview_admitted.fetch_add(1, Ordering::Relaxed) < PREVIEW_MAX_FRAMES {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        });
    }
    let full = Arc::clone(shared);
    if let Some(pad) = rate.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if full.preview_admitted.load(Ordering::Relaxed) >= PREVIEW_MAX_FRAMES {
                gst::PadProbeReturn::Handled
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    }
    let collect = Arc::clone(shared);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let at_ms = stream_time_ms(&sample);
                if let Some(frame) = rgb_frame(&sample) {
                    collect.preview_frames.lock().unwrap().push((at_ms, frame));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}

/// A sample's position in the stream, in milliseconds (0 when unknown).
fn stream_time_ms(sample: &gst::Sample) -> i64 {
    sample
        .buffer()
        .and_then(|b| b.pts())
        .zip(sample.segment())
        .and_then(|(pts, segment)| {
            segment
                .downcast_ref::<gst::ClockTime>()?
                .to_stream_time(pts)
        })
        .map_or(0, |t| i64::try_from(t.mseconds()).unwrap_or(i64::MAX))
}

/// Copies a sample into a tightly packed RGB frame (video rows are padded to 4 bytes).
fn rgb_frame(sample: &gst::Sample) -> Option<RgbFrame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer()?, &info).ok()?;
    let (width, height) = (frame.width(), frame.height());
    let stride = usize::try_from(frame.plane_stride()[0]).ok()?;
    let row = width as usize * 3;
    let plane = frame.plane_data(0).ok()?;
    let mut data = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        data.extend_from_slice(plane.get(y * stride..y * stride + row)?);
    }
    Some(RgbFrame {
        width,
        height,
        data,
    })
}

/// Links a pad decodebin exposed: the first raw video pad into the ladder, the first raw audio
/// pad into the shared AAC branch, anything else into a fakesink. decodebin exposes all its pads
/// before it lets data flow, so the audio branch built here is in place before the muxers start.
fn link_decoded_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    video_in: &gst::Element,
    rungs: &[RungSinks],
    shared: &Arc<Shared>,
) -> Result<(), TranscodeError> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let media_type = caps.structure(0).map_or("", |s| s.name().as_str());
    let target = if media_type == "video/x-raw" {
        Some(video_in.clone())
    } else if media_type == "audio/x-raw" {
        let audio_in = match pipeline.by_name(AUDIO_IN) {
            Some(audio_in) => audio_in,
            None => build_audio_branch(pipeline, rungs, shared)?,
        };
        // The first audio track unless a later one is marked as the default. decodebin exposes
        // every pad before data flows, so swapping here loses nothing.
        if let Some(sink) = audio_in.static_pad("sink") {
            if let Some(current) = sink.peer() {
                if is_default_track(pad) && !is_default_track(&current) {
                    current
                        .unlink(&sink)
                        .context("unlinking the non-default audio track")?;
                    discard(pipeline, &current)?;
                }
            }
        }
        Some(audio_in)
    } else {
        None
    };
    let free_sink = target
        .and_then(|element| element.static_pad("sink"))
        .filter(|sink| !sink.is_linked());
    let Some(sink) = free_sink else {
        // A stream we do not use: a second video or audio track, metadata, or something with no
        // decoder (still encoded).
        return Ok(discard(pipeline, pad)?);
    };
    pad.link(&sink).map_err(|error| {
        TranscodeError::Media(format!(
            "cannot convert the decoded stream ({caps}): {error}"
        ))
    })?;
    track_decoded_end(pad, shared);
    Ok(())
}

/// Whether the container marks the stream on `pad` as the one to play by default.
fn is_default_track(pad: &gst::Pad) -> bool {
    pad.sticky_event::<gst::event::StreamStart>(0)
        .is_some_and(|event| event.stream_flags().contains(gst::StreamFlags::SELECT))
}

/// Records how far the decoded audio or video reaches, to tell a clip that ends early (cut or
/// damaged) from one that was decoded whole.
fn track_decoded_end(pad: &gst::Pad, shared: &Arc<Shared>) {
    let shared = Arc::clone(shared);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            if let Some(pts) = buffer.pts() {
                let end = pts + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
                shared
                    .decoded_end_ns
                    .fetch_max(end.nseconds(), Ordering::Relaxed);
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `queue ! audioconvert ! audioresample ! capsfilter ! avenc_aac ! tee`, then one parser per
/// muxer. Returns the branch's first element.
fn build_audio_branch(
    pipeline: &gst::Pipeline,
    rungs: &[RungSinks],
    shared: &Shared,
) -> anyhow::Result<gst::Element> {
    let queue = make("queue").property("name", AUDIO_IN).build()?;
    let convert = make("audioconvert").build()?;
    let resample = make("audioresample").build()?;
    let format = make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("audio/x-raw")
                .field("rate", AUDIO_RATE)
                .field("channels", AUDIO_CHANNELS)
                .build(),
        )
        .build()?;
    let encoder = make("avenc_aac")
        .property("bitrate", AUDIO_BITRATE)
        .build()?;
    let audio_tee = make("tee").build()?;
    let chain = [&queue, &convert, &resample, &format, &encoder, &audio_tee];
    pipeline.add_many(chain)?;
    gst::Element::link_many(chain)?;

    let mut added = chain.iter().map(|e| (*e).clone()).collect::<Vec<_>>();
    for rung in rungs {
        for (muxer, pad_template) in [(&rung.hls, "audio"), (&rung.mp4mux, "audio_%u")] {
            let branch_queue = mux_queue()?;
            let parser = make("aacparse").build()?;
            pipeline.add_many([&branch_queue, &parser])?;
            gst::Element::link_many([&audio_tee, &branch_queue, &parser])?;
            link_to_request_pad(&parser, muxer, pad_template)?;
            if pad_template == "audio_%u" {
                shared
                    .audio_codec_source
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| parser.clone());
            }
            added.extend([branch_queue, parser]);
        }
    }
    // Downstream first, so nothing pushes into an element that is not running yet.
    for element in added.iter().rev() {
        element.sync_state_with_parent()?;
    }
    Ok(queue)
}

fn link_to_request_pad(
    upstream: &gst::Element,
    muxer: &gst::Element,
    template: &str,
) -> anyhow::Result<()> {
    let sink = muxer
        .request_pad_simple(template)
        .with_context(|| format!("{} has no {template} pad", muxer.name()))?;
    let src = upstream
        .static_pad("src")
        .context("element without src pad")?;
    src.link(&sink)
        .with_context(|| format!("linking {} to {}", upstream.name(), muxer.name()))?;
    Ok(())
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

/// Adds `#EXT-X-PLAYLIST-TYPE:VOD` (and `#EXT-X-ENDLIST`) to a finished media playlist and
/// measures its bitrate. `None` if the rung produced nothing.
fn finish_rendition(out_dir: &Path, rung: &Rung) -> anyhow::Result<Option<Rendition>> {
    let playlist = format!("hls/{}.m3u8", rung.name);
    let mp4 = format!("mp4/{}.mp4", rung.name);
    let playlist_path = out_dir.join(&playlist);
    if !playlist_path.is_file() || !out_dir.join(&mp4).is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&playlist_path)
        .with_context(|| format!("reading {}", playlist_path.display()))?;
    let text = as_vod_playlist(&text);
    fs::write(&playlist_path, &text)
        .with_context(|| format!("writing {}", playlist_path.display()))?;

    let segments = media_segments(&text);
    if segments.is_empty() {
        return Ok(None);
    }
    let hls_dir = out_dir.join("hls");
    let mut peak = 0u64;
    for (uri, seconds) in &segments {
        let bytes = fs::metadata(hls_dir.join(uri))
            .with_context(|| format!("measuring segment {uri}"))?
            .len();
        peak = peak.max(segment_bps(bytes, *seconds));
    }
    Ok(Some(Rendition {
        name: rung.name.clone(),
        width: rung.width,
        height: rung.height,
        bandwidth: u32::try_from(peak).unwrap_or(u32::MAX),
        playlist,
        mp4,
    }))
}

/// Makes hlssink2's media playlist a valid VOD playlist. hlssink2 1.22 writes no playlist type,
/// and for clips shorter than a second a target duration of 0; RFC 8216 §4.3.3.1 wants every
/// segment's duration, rounded to the nearest integer, to be at most the target duration.
fn as_vod_playlist(text: &str) -> String {
    let longest = media_segments(text)
        .iter()
        .map(|(_, seconds)| seconds.round() as u64)
        .max()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len() + 64);
    let needs_type = !text.contains("#EXT-X-PLAYLIST-TYPE");
    for line in text.lines() {
        if let Some(target) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            let target = target
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                .max(longest)
                .max(1);
            writeln!(out, "#EXT-X-TARGETDURATION:{target}").expect("writing to a String");
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if needs_type && line.starts_with("#EXT-X-VERSION") {
            out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
    }
    if needs_type && !out.contains("#EXT-X-PLAYLIST-TYPE") {
        out = out.replacen("#EXTM3U\n", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n", 1);
    }
    if !out.contains("#EXT-X-ENDLIST") {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// A segment's bitrate in bits/s, for BANDWIDTH. Segments shorter than a second (usually the
/// last) overstate the rate: they count as one second.
pub(crate) fn segment_bps(bytes: u64, seconds: f64) -> u64 {
    (bytes as f64 * 8.0 / seconds.max(1.0)).ceil() as u64
}

/// `(uri, seconds)` of each segment in a media playlist.
pub(crate) fn media_segments(text: &str) -> Vec<(String, f64)> {
    let mut segments = Vec::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            let seconds = info.split(',').next().unwrap_or("");
            pending = f64::from_str(seconds.trim()).ok();
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(seconds) = pending.take() {
                segments.push((line.to_owned(), seconds));
            }
        }
    }
    segments
}

/// The multivariant playlist (RFC 8216 §4.3.4.2): one variant per rendition with its codecs,
/// largest first.
fn write_master_playlist(path: &Path, variants: &[(Rendition, String)]) -> anyhow::Result<()> {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (rendition, codecs) in variants {
        let uri = Path::new(&rendition.playlist)
            .file_name()
            .and_then(|n| n.to_str())
            .context("playlist without a file name")?;
        writeln!(
            text,
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{codecs}\"\n{uri}",
            rendition.bandwidth, rendition.width, rendition.height
        )?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Every file a transcode leaves for upload, in a stable order.
fn list_outputs(out_dir: &Path) -> anyhow::Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    for dir in ["hls", "mp4"] {
        let mut paths: Vec<PathBuf> = fs::read_dir(out_dir.join(dir))
            .with_context(|| format!("listing {dir}"))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(content_type) = content_type(name) {
                files.push(OutputFile {
                    path: format!("{dir}/{name}"),
                    content_type,
                });
            }
        }
    }
    // Images and tracks at the top level (posters, storyboard, preview).
    let mut root: Vec<String> = fs::read_dir(out_dir)
        .context("listing the output directory")?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    root.sort();
    for name in root {
        if let Some(content_type) = content_type(&name) {
            files.push(OutputFile {
                path: name,
                content_type,
            });
        }
    }
    Ok(files)
}

fn content_type(file_name: &str) -> Option<&'static str> {
    match file_name.rsplit_once('.')?.1 {
        "m3u8" => Some("application/vnd.apple.mpegurl"),
        "ts" => Some("video/mp2t"),
        "mp4" => Some("video/mp4"),
        "jpg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        "vtt" => Some("text/vtt"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HLSSINK2_OUTPUT: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:NO\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:2\n\n\
        #EXTINF:2,\n720p_00000.ts\n#EXTINF:1.5,\n720p_00001.ts\n#EXT-X-ENDLIST\n";

    #[test]
    fn a_long_clip_keeps_a_bounded_evenly_spaced_storyboard() {
        let mut frames = StoryboardFrames::default();
        for second in 0..450 {
            frames.offer(second * 1000, || {
                Some(RgbFrame {
                    width: 2,
                    height: 2,
                    data: vec![0; 12],
                })
            });
        }
        let times: Vec<i64> = frames.thumbs.iter().map(|t| t.at_ms).collect();
        assert!(
            (STORYBOARD_MAX / 2..STORYBOARD_MAX).contains(&times.len()),
            "{}",
            times.len()
        );
        let gaps: std::collections::BTreeSet<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(
            gaps.into_iter().collect::<Vec<_>>(),
            vec![4000],
            "one every 4 s for 450 s"
        );
        assert_eq!(times[0], 0);
    }

    #[test]
    fn media_playlists_are_marked_vod_once() {
        let vod = as_vod_playlist(HLSSINK2_OUTPUT);
        assert!(vod.contains("#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert_eq!(as_vod_playlist(&vod), vod);
        assert_eq!(vod.matches("#EXT-X-ENDLIST").count(), 1);
    }

    #[test]
    fn a_clip_shorter_than_a_second_gets_a_target_duration_of_one() {
        let short = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:0\n\n\
            #EXTINF:0.49201110005378723,\n720p_00000.ts\n#EXT-X-ENDLIST\n";
        let vod = as_vod_playlist(short);
        assert!(vod.contains("#EXT-X-TARGETDURATION:1\n"), "{vod}");
        assert!(as_vod_playlist(HLSSINK2_OUTPUT).contains("#EXT-X-TARGETDURATION:2\n"));
    }

    #[test]
    fn segments_are_read_with_their_durations() {
        assert_eq!(
            media_segments(HLSSINK2_OUTPUT),
            [
                ("720p_00000.ts".to_owned(), 2.0),
                ("720p_00001.ts".to_owned(), 1.5)
            ]
        );
    }

    #[test]
    fn only_known_outputs_get_a_content_type() {
        assert_eq!(
            content_type("720p.m3u8"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(content_type("720p_00000.ts"), Some("video/mp2t"));
        assert_eq!(content_type("720p.mp4.moov-scratch"), None);
    }
}
