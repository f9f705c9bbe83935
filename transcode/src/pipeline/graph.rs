//! Building the transcode graph: one decode feeds every rung, each rung is encoded once and
//! muxed twice (HLS segments and a progressive MP4), audio is encoded once and shared, and
//! branches collect frames for the still images ([`super::frames`]). Nothing runs here: the
//! graph is started and watched by the `run` module.
//
// filesrc ! decodebin         the first video and the first audio pad; other pads to a fakesink
//   video ! queue ! videoconvert ! videoflip video-direction=auto ! videorate
//         ! capsfilter(constant rate, at most 60 fps) ! tee name=v
//     per rung (scaled from v, or from the scaled frames s of a rung at least twice as large):
//     v. ! queue ! videoscale ! capsfilter(W x H, 1:1, I420) ! tee name=s ! queue ! x264enc
//        ! tee name=e
//       e. ! queue ! h264parse ! hlssink2.video        hls/<rung>_%05d.ts, hls/<rung>.m3u8
//       e. ! queue ! h264parse ! mp4mux faststart=true ! filesink    mp4/<rung>.mp4
//     the top rung, when it is copied from the source (see `remux`), instead of from v:
//     filesrc ! parsebin           the first H.264 stream; other streams to a fakesink
//       ! queue ! h264parse ! tee name=e    then e. to hlssink2 and mp4mux as above
//     poster, storyboard, preview (see `frames`):
//     v. ! videorate ! capsfilter(2, 1 or 10 fps) ! queue ! videoconvert ! videoscale
//        ! capsfilter(RGB) ! appsink
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
// (key-int-max = one segment of frames, scenecut=0; beside a copied top rung, the source's own
// GOP) and hlssink2 does not request extra ones.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_pbutils as pbutils;
use gstreamer_video as gst_video;

use super::error::TranscodeError;
use super::frames::{self, Frames};
use super::options::TranscodeOptions;
use crate::gst_util::{self, discard, make, path_str};
use crate::ladder::{self, Rung};

/// Name of the audio branch's first element.
const AUDIO_IN: &str = "audio-in";
/// Muxers wait for both audio and video, and x264's lookahead delays video by a second or two:
/// the queues in front of them hold time, not a buffer count, so neither stream starves the other.
const MUX_QUEUE_TIME: gst::ClockTime = gst::ClockTime::from_seconds(10);
/// How long the last frame may be repeated to reach the announced end of the clip.
const MAX_CLOSING_DUPLICATION: gst::ClockTime = gst::ClockTime::from_mseconds(250);

/// State shared with the streaming threads.
#[derive(Default)]
pub(super) struct Shared {
    /// The audio branch's first MP4 parser, once built: its caps name the AAC profile.
    audio_codec_source: Mutex<Option<gst::Element>>,
    /// A failure found on a streaming thread; reported instead of the generic error it causes.
    pub failure: Mutex<Option<TranscodeError>>,
    pub video_frames: AtomicU64,
    /// The furthest end time of any decoded audio or video buffer, in nanoseconds.
    pub decoded_end_ns: AtomicU64,
    /// Frames for the poster, storyboard and preview.
    pub frames: Arc<Frames>,
}

/// Where one rung's encoded streams go.
struct RungSinks {
    hls: gst::Element,
    mp4mux: gst::Element,
    /// `None` for a rung copied from the source.
    encoder: Option<gst::Element>,
}

/// The transcode pipeline, built and not yet started.
pub(super) struct Graph {
    pub pipeline: gst::Pipeline,
    /// Each rung's MP4-side h264parse, in ladder order: its caps carry the avcC that the codec
    /// string (profile and level) comes from.
    rung_parsers: Vec<gst::Element>,
    pub shared: Arc<Shared>,
}

impl Graph {
    pub(super) fn build(
        input: &Path,
        out_dir: &Path,
        opts: &TranscodeOptions,
    ) -> anyhow::Result<Self> {
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
        let chain = [
            &video_in,
            &convert,
            &upright,
            &constant_rate,
            &rate_caps,
            &video_tee,
        ];
        pipeline.add_many(chain)?;
        gst::Element::link_many(chain)?;
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
        frames::build_branches(&pipeline, &video_tee, &opts.rungs[0], &shared.frames)?;
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

    /// The RFC 6381 codec strings of each rung's video (in ladder order) and of the audio. Read
    /// them before the pipeline stops: the `Null` state clears the caps they come from.
    pub(super) fn codecs(&self) -> (Vec<Option<String>>, Option<String>) {
        let video = self.rung_parsers.iter().map(codec_of).collect();
        let audio = self
            .shared
            .audio_codec_source
            .lock()
            .unwrap()
            .as_ref()
            .and_then(codec_of);
        (video, audio)
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
    gst_util::link_first_h264(pipeline, &parse, copy_in);
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
        .property("target-duration", opts.hls_target())
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
                .field("rate", ladder::AUDIO_RATE)
                .field("channels", ladder::AUDIO_CHANNELS)
                .build(),
        )
        .build()?;
    let encoder = make("avenc_aac")
        .property("bitrate", ladder::AUDIO_BITRATE)
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
