//! Probing an upload before any CPU is spent on it: what is in the file, which way up it is shown,
//! and whether we can decode it at all.
//!
//! The answer comes from GStreamer's `Discoverer`, run on a private GLib main context so that it
//! never touches the caller's context and always ends within the given timeout. Every refusal is a
//! [`ProbeError`] whose `Display` is written for the creator who uploaded the file.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer_pbutils as pbutils;
use gstreamer_pbutils::prelude::*;

use crate::container;

/// Videos smaller than this on either side are refused: nothing useful can be shown from them.
pub const MIN_SIDE: u32 = 16;

/// How long a probe may take. Discovery of a healthy file takes well under a second; on 1.22
/// some damaged files make the Discoverer wait silently, and this bounds that wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an upload holds, as a viewer will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeInfo {
    pub duration_ms: i64,
    /// Display width: pixel aspect ratio and rotation applied.
    pub width: u32,
    /// Display height: pixel aspect ratio and rotation applied.
    pub height: u32,
    /// Clockwise rotation (0, 90, 180 or 270) that shows the coded picture upright, from the
    /// `image-orientation` tag (`rotate-90`, `flip-rotate-270`, …).
    pub rotation: u32,
    /// Human-readable codec name, e.g. "H.264 / AVC".
    pub video_codec: String,
    /// Whether there is an audio stream we can decode.
    pub has_audio: bool,
    /// Frames per second as a fraction; `None` when the container does not say (variable rate).
    pub framerate: Option<(i32, i32)>,
    /// Video bitrate in bits/s: the container's figure, else estimated from the file size less
    /// a typical audio track. `None` when neither is known.
    pub video_bitrate: Option<u32>,
    /// H.264 in a profile every player decodes (Constrained Baseline, Baseline, Main, High),
    /// 8-bit 4:2:0, with square pixels: a stream that could go out as it came in.
    pub plain_h264: bool,
}

/// Why an upload cannot be transcoded. `Display` is shown to the creator as is.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the file is not a video we recognise ({0})")]
    NotMedia(String),
    #[error("the file has no video stream (audio only)")]
    NoVideo,
    #[error(
        "the video is too small ({width}x{height}); it must be at least {MIN_SIDE}x{MIN_SIDE}"
    )]
    TooSmall { width: u32, height: u32 },
    #[error("unsupported video codec: {0} (no decoder available)")]
    Unsupported(String),
    #[error(
        "the file is truncated at {percent} % and its index is in the missing part, so it cannot \
         be played; upload the whole file again"
    )]
    Truncated { percent: u8 },
    #[error("the file could not be read: {0}")]
    Failed(String),
}

/// Initialises GStreamer; cheap and safe to call any number of times from any thread.
pub fn init() -> anyhow::Result<()> {
    gst::init().context("initialising GStreamer")
}

/// Inspects `path` without decoding it fully. Gives up after `timeout` with [`ProbeError::Failed`].
pub fn probe(path: &Path, timeout: Duration) -> Result<ProbeInfo, ProbeError> {
    init().map_err(|e| ProbeError::Failed(format!("{e:#}")))?;
    let path = path
        .canonicalize()
        .map_err(|e| ProbeError::Failed(format!("cannot open the file: {e}")))?;
    let uri = glib::filename_to_uri(&path, None)
        .map_err(|e| ProbeError::Failed(format!("cannot name the file as a URI: {e}")))?;

    // An MP4 cut before its index cannot play, and GStreamer may take the whole timeout to say
    // so: the box headers tell at once, and how much arrived.
    if let Ok(Some(cut)) = container::truncation(&path) {
        if !cut.has_index {
            return Err(ProbeError::Truncated {
                percent: cut.percent,
            });
        }
    }
    let (info, error) = discover(&uri, timeout)?;
    if info.result() == pbutils::DiscovererResult::Timeout {
        return Err(timed_out(timeout));
    }
    let missing = MissingDecoders::from_details(&info.missing_elements_installer_details());

    let Some(video) = info.video_streams().into_iter().next() else {
        // A missing decoder aborts discovery before any stream is listed, so the installer
        // details are the only place that names the codec.
        return Err(if let Some(codec) = missing.video {
            ProbeError::Unsupported(codec)
        } else if let Some(codec) = missing.audio {
            ProbeError::Failed(format!(
                "unsupported audio codec: {codec} (no decoder available)"
            ))
        } else if let Some(error) = error {
            classify_error(&error)
        } else if !info.audio_streams().is_empty() {
            ProbeError::NoVideo
        } else {
            ProbeError::NotMedia("no video or audio stream found".into())
        });
    };
    if video.is_image() {
        return Err(ProbeError::NotMedia("a still image, not a video".into()));
    }

    let caps = video
        .caps()
        .ok_or_else(|| ProbeError::Failed("the video stream has no format".into()))?;
    let video_codec = codec_name(&video, &caps);
    // The Discoverer stops at parsers, so a clean result says nothing about whether a decoder
    // exists (HEVC parses fine without one): ask the registry directly.
    if !has_decoder(&caps) {
        return Err(ProbeError::Unsupported(video_codec));
    }
    // Missing plugins for streams we do not use (a phone's metadata track) are harmless.
    if let Some(error) = error.filter(|e| !e.matches(gst::CoreError::MissingPlugin)) {
        return Err(classify_error(&error));
    }

    let rotation = video
        .tags()
        .and_then(|tags| tags.get::<gst::tags::ImageOrientation>())
        .map_or(0, |tag| rotation_from_orientation(tag.get()));
    let (width, height) =
        display_size(video.width(), video.height(), pixel_aspect(&caps), rotation);
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ProbeError::TooSmall { width, height });
    }

    let framerate = video.framerate();
    let framerate = (framerate.numer() > 0 && framerate.denom() > 0)
        .then(|| (framerate.numer(), framerate.denom()));
    let duration_ms = info
        .duration()
        .map_or(0, |d| i64::try_from(d.mseconds()).unwrap_or(i64::MAX));
    let has_audio = info
        .audio_streams()
        .iter()
        .any(|audio| audio.caps().is_some_and(|caps| has_decoder(&caps)));

    let video_bitrate = Some(video.bitrate())
        .filter(|&b| b > 0)
        .or_else(|| estimate_video_bitrate(&path, duration_ms, has_audio));

    let plain_h264 = is_plain_h264(&caps);
    Ok(ProbeInfo {
        plain_h264,
        duration_ms,
        width,
        height,
        rotation,
        video_codec,
        has_audio,
        framerate,
        video_bitrate,
    })
}

/// File size over duration, less 128 kbit/s for an audio track if there is one.
fn estimate_video_bitrate(path: &Path, duration_ms: i64, has_audio: bool) -> Option<u32> {
    let bytes = std::fs::metadata(path).ok()?.len();
    let seconds = u64::try_from(duration_ms).ok().filter(|&ms| ms >= 100)? as f64 / 1000.0;
    let total = bytes as f64 * 8.0 / seconds;
    let audio = if has_audio { 128_000.0 } else { 0.0 };
    Some((total - audio).max(total / 2.0).min(f64::from(u32::MAX)) as u32)
}

/// Runs one asynchronous discovery on a private main context. The synchronous API drops the
/// `DiscovererInfo` whenever it reports an error, and with it the missing-decoder details we need
/// to name an unsupported codec, so we listen for the `discovered` signal instead.
fn discover(
    uri: &str,
    timeout: Duration,
) -> Result<(pbutils::DiscovererInfo, Option<glib::Error>), ProbeError> {
    type Outcome = Option<(pbutils::DiscovererInfo, Option<glib::Error>)>;
    let context = glib::MainContext::new();
    context
        .with_thread_default(|| {
            let discoverer = pbutils::Discoverer::new(gst::ClockTime::from_nseconds(
                u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            ))
            .map_err(|e| ProbeError::Failed(e.to_string()))?;
            let outcome: Arc<Mutex<Outcome>> = Arc::default();
            let sink = Arc::clone(&outcome);
            discoverer.connect_discovered(move |_, info, error| {
                // Keep a reference rather than `info.copy()`: in GStreamer 1.22 the copy
                // unrefs its streams one time too many (GLib-GObject-CRITICAL warnings).
                *sink.lock().unwrap() = Some((info.clone(), error.cloned()));
            });
            discoverer.start();
            discoverer
                .discover_uri_async(uri)
                .map_err(|e| ProbeError::Failed(e.to_string()))?;

            // The Discoverer enforces `timeout` itself; this deadline only guards against it
            // never calling back, and the ticker makes sure we get to look at the clock.
            let deadline = Instant::now() + timeout + Duration::from_secs(2);
            let ticker = glib::timeout_source_new(
                Duration::from_millis(100),
                None,
                glib::Priority::DEFAULT,
                || glib::ControlFlow::Continue,
            );
            ticker.attach(Some(&context));
            let result = loop {
                if let Some(found) = outcome.lock().unwrap().take() {
                    break Ok(found);
                }
                if Instant::now() > deadline {
                    break Err(timed_out(timeout));
                }
                context.iteration(true);
            };
            ticker.destroy();
            discoverer.stop();
            result
        })
        .map_err(|e| ProbeError::Failed(e.to_string()))?
}

fn timed_out(timeout: Duration) -> ProbeError {
    ProbeError::Failed(format!(
        "reading the file took longer than {} s",
        timeout.as_secs_f32()
    ))
}

/// Maps a GStreamer error about the whole file to a creator-facing reason.
fn classify_error(error: &glib::Error) -> ProbeError {
    if error.matches(gst::StreamError::TypeNotFound) || error.matches(gst::StreamError::WrongType) {
        ProbeError::NotMedia("unknown file type".into())
    } else if error.matches(gst::CoreError::MissingPlugin) {
        ProbeError::NotMedia("unsupported container format".into())
    } else if error.matches(gst::StreamError::Decode) {
        ProbeError::Failed(human_message(
            error.message(),
            "the video data is damaged and cannot be decoded",
        ))
    } else if error.matches(gst::StreamError::Demux) || error.matches(gst::StreamError::Format) {
        ProbeError::Failed(human_message(
            error.message(),
            "the file's container is damaged",
        ))
    } else {
        ProbeError::Failed(human_message(
            error.message(),
            "the file is damaged or in a format we cannot read",
        ))
    }
}

/// GStreamer's own message when it reads like a sentence for a creator ("this file is
/// incomplete and cannot be played"); a plain description when it is pipeline jargon
/// ("no caps set", "internal data stream error").
fn human_message(message: &str, plain: &str) -> String {
    let message = message.trim_end_matches('.').to_lowercase();
    const JARGON: [&str; 6] = [
        "caps",
        "internal data stream",
        "negotiat",
        "pad",
        "could not demultiplex",
        "could not decode",
    ];
    if JARGON.iter().any(|j| message.contains(j)) {
        plain.into()
    } else {
        message
    }
}

/// The first missing video and audio decoder named in the Discoverer's installer details
/// (`gstreamer|1.0|app|H.265 decoder|decoder-video/x-h265`).
#[derive(Debug, Default, PartialEq, Eq)]
struct MissingDecoders {
    video: Option<String>,
    audio: Option<String>,
}

impl MissingDecoders {
    fn from_details(details: &[impl AsRef<str>]) -> Self {
        let mut missing = Self::default();
        for detail in details {
            let fields: Vec<&str> = detail.as_ref().split('|').collect();
            let [.., description, wanted] = fields[..] else {
                continue;
            };
            let Some(caps) = wanted.strip_prefix("decoder-") else {
                continue;
            };
            let media_type = caps.split(',').next().unwrap_or(caps).trim();
            let name = describe_media_type(media_type)
                .unwrap_or_else(|| description.trim_end_matches(" decoder").to_owned());
            let slot = if media_type.starts_with("video/") {
                &mut missing.video
            } else if media_type.starts_with("audio/") {
                &mut missing.audio
            } else {
                continue;
            };
            slot.get_or_insert(name);
        }
        missing
    }
}

/// Names for media types GStreamer 1.22 cannot describe itself.
fn describe_media_type(media_type: &str) -> Option<String> {
    match media_type {
        // qtdemux 1.22 does not know the VVC sample entries and exposes the raw fourcc.
        "video/x-h266" | "video/x-gst-fourcc-vvc1" | "video/x-gst-fourcc-vvi1" => {
            Some("H.266/VVC".into())
        }
        other => other
            .strip_prefix("video/x-gst-fourcc-")
            .map(|fourcc| format!("unknown codec '{fourcc}'")),
    }
}

fn codec_name(video: &pbutils::DiscovererVideoInfo, caps: &gst::Caps) -> String {
    let media_type = caps.structure(0).map(|s| s.name().as_str()).unwrap_or("");
    describe_media_type(media_type)
        .or_else(|| {
            video
                .tags()
                .and_then(|tags| tags.get::<gst::tags::VideoCodec>())
                .map(|tag| tag.get().to_owned())
        })
        .unwrap_or_else(|| pbutils::pb_utils_get_codec_description(caps).into())
}

/// Whether the registry has a decoder (or, for raw media, nothing to decode) for `caps`. Only the
/// media type is compared: decodebin3 plugs a parser first, which converts stream formats.
fn has_decoder(caps: &gst::Caps) -> bool {
    let Some(media_type) = caps.structure(0).map(|s| s.name().as_str()) else {
        return false;
    };
    if media_type == "video/x-raw" || media_type == "audio/x-raw" {
        return true;
    }
    let Ok(media_type) = gst::Caps::from_str(media_type) else {
        return false;
    };
    gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DECODER, gst::Rank::MARGINAL)
        .iter()
        .any(|factory| factory.can_sink_any_caps(&media_type))
}

/// See [`ProbeInfo::plain_h264`]. High profile also allows monochrome, hence the chroma check
/// when the parser reports it.
fn is_plain_h264(caps: &gst::Caps) -> bool {
    let Some(s) = caps.structure(0).filter(|s| s.name() == "video/x-h264") else {
        return false;
    };
    let profile_ok = s
        .get::<&str>("profile")
        .is_ok_and(|p| matches!(p, "constrained-baseline" | "baseline" | "main" | "high"));
    let chroma_ok = s
        .get::<&str>("chroma-format")
        .map_or(true, |c| c == "4:2:0");
    let depth_ok = s.get::<u32>("bit-depth-luma").map_or(true, |d| d == 8);
    let square = pixel_aspect(caps) == gst::Fraction::new(1, 1);
    profile_ok && chroma_ok && depth_ok && square
}

/// The pixel aspect ratio the stream's caps declare. `DiscovererVideoInfo::par()` is not used:
/// in GStreamer 1.22 it can disagree with the caps (27/64 for a square-pixel Samsung clip).
fn pixel_aspect(caps: &gst::Caps) -> gst::Fraction {
    caps.structure(0)
        .and_then(|s| s.get::<gst::Fraction>("pixel-aspect-ratio").ok())
        .filter(|par| par.numer() > 0 && par.denom() > 0)
        .unwrap_or_else(|| gst::Fraction::new(1, 1))
}

/// Clockwise rotation from a GStreamer `image-orientation` tag. Flipped variants turn the same
/// way (the mirror does not change which side is up).
pub fn rotation_from_orientation(tag: &str) -> u32 {
    match tag.trim_start_matches("flip-") {
        "rotate-90" => 90,
        "rotate-180" => 180,
        "rotate-270" => 270,
        _ => 0,
    }
}

fn display_size(coded_w: u32, coded_h: u32, par: gst::Fraction, rotation: u32) -> (u32, u32) {
    let (n, d) = (par.numer(), par.denom());
    let width = if n > 0 && d > 0 && n != d {
        let (n, d) = (u64::from(n.unsigned_abs()), u64::from(d.unsigned_abs()));
        u32::try_from((u64::from(coded_w) * n + d / 2) / d).unwrap_or(u32::MAX)
    } else {
        coded_w
    };
    if rotation % 180 == 90 {
        (coded_h, width)
    } else {
        (width, coded_h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flipped_orientations_turn_like_plain_ones() {
        assert_eq!(rotation_from_orientation("rotate-90"), 90);
        assert_eq!(rotation_from_orientation("flip-rotate-270"), 270);
        assert_eq!(rotation_from_orientation("flip-rotate-0"), 0);
        assert_eq!(rotation_from_orientation("rotate-0"), 0);
    }

    #[test]
    fn a_quarter_turn_swaps_the_display_sides() {
        let square = gst::Fraction::new(1, 1);
        assert_eq!(display_size(1920, 1080, square, 90), (1080, 1920));
        assert_eq!(display_size(1920, 1080, square, 180), (1920, 1080));
    }

    #[test]
    fn wide_pixels_stretch_the_display_width() {
        assert_eq!(
            display_size(320, 240, gst::Fraction::new(4, 3), 0),
            (427, 240)
        );
    }

    #[test]
    fn a_missing_vvc_decoder_is_named_for_humans() {
        let details =
            ["gstreamer|1.0|app|video/x-gst-fourcc-vvc1 decoder|decoder-video/x-gst-fourcc-vvc1"];
        let missing = MissingDecoders::from_details(&details);
        assert_eq!(missing.video.as_deref(), Some("H.266/VVC"));
        assert_eq!(missing.audio, None);
    }

    #[test]
    fn a_missing_audio_decoder_keeps_gstreamers_description() {
        let details =
            ["gstreamer|1.0|app|MPEG-4 AAC decoder|decoder-audio/mpeg, mpegversion=(int)4"];
        let missing = MissingDecoders::from_details(&details);
        assert_eq!(missing.audio.as_deref(), Some("MPEG-4 AAC"));
        assert_eq!(missing.video, None);
    }
}
