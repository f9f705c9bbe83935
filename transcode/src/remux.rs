//! Deciding whether the top rung can be the source's own H.264, copied instead of re-encoded.
//!
//! It can when the source is plain H.264 (see [`ProbeInfo::plain_h264`]), shown as coded (no
//! rotation), exactly the top rung's size, at a constant rate the output keeps, not much heavier
//! than the rung's own bitrate, and with a sane GOP: it starts on a keyframe and never goes more
//! than one segment without one. The top rung then costs no encode at all, and the other rungs
//! are told to put their keyframes at the source's, so every rung still switches at every
//! segment.
//!
//! The keyframe times come from a scan of the file through `parsebin` (demux and parse, no
//! decode), which reads it once at disk speed. Blocking: call from a blocking thread.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::gst_util::{self, NullOnDrop};
use crate::ladder::{self, Rung};
use crate::probe::ProbeInfo;

/// The source may be up to this much heavier than the top rung's target and still be copied.
const MAX_BITRATE_RATIO: f64 = 1.5;
/// A shorter GOP would force wasteful keyframes on every other rung.
const MIN_GOP: Duration = Duration::from_millis(500);
/// How long the keyframe scan may take (it only demuxes).
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// The source's fixed GOP, which a copied top rung imposes on the other rungs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceGop {
    /// A keyframe every this many frames.
    pub frames: u32,
    /// The same in seconds.
    pub seconds: f64,
}

impl SourceGop {
    /// The HLS target duration that cuts segments of whole GOPs between `segment` and twice
    /// that: segments never exceed the target, so with a 0.6 s GOP a 2 s target gives 1.8 s
    /// segments, and 3 s gives 3 s.
    pub fn hls_target(&self, segment: u32) -> u32 {
        let gop = self.seconds.max(0.001);
        (segment..2 * segment)
            .find(|&target| {
                (f64::from(target) / gop + 1e-6).floor() * gop >= f64::from(segment) - 1e-6
            })
            .unwrap_or(2 * segment)
    }
}

/// The source's GOP, if its top rung can be a copy of it.
pub fn plan(
    path: &Path,
    info: &ProbeInfo,
    top: &Rung,
    segment: Duration,
) -> anyhow::Result<Option<SourceGop>> {
    let Some(frame) = info
        .framerate
        .filter(|&(n, d)| n > 0 && d > 0)
        .filter(|&(n, d)| f64::from(n) / f64::from(d) <= ladder::MAX_FPS)
        .map(|(n, d)| Duration::from_secs_f64(f64::from(d) / f64::from(n)))
    else {
        return Ok(None);
    };
    let bitrate_ok = info
        .video_bitrate
        .is_some_and(|b| f64::from(b) <= f64::from(top.video_bitrate) * MAX_BITRATE_RATIO);
    if !(info.plain_h264
        && info.rotation == 0
        && (info.width, info.height) == (top.width, top.height)
        && bitrate_ok)
    {
        return Ok(None);
    }
    let (keyframes, start, end) = scan_keyframes(path)?;
    Ok(fixed_gop(&keyframes, start, end, frame)
        .map(|frames| SourceGop {
            frames,
            seconds: frame.as_secs_f64() * f64::from(frames),
        })
        .filter(|gop| {
            let length = Duration::from_secs_f64(gop.seconds);
            length >= MIN_GOP && length <= segment + frame / 2
        }))
}

/// The GOP in frames if the stream starts on a keyframe and has one exactly every that many
/// frames (the last GOP may be shorter). `start` and `end` bound the stream: its first frame's
/// PTS is often not 0 (B-frame reordering delays it).
fn fixed_gop(
    keyframes: &[gst::ClockTime],
    start: gst::ClockTime,
    end: gst::ClockTime,
    frame: Duration,
) -> Option<u32> {
    let frame_ns = frame.as_nanos() as f64;
    let frames = |from: gst::ClockTime, to: gst::ClockTime| -> Option<u32> {
        let exact = to.saturating_sub(from).nseconds() as f64 / frame_ns;
        // A constant-rate stream's keyframes sit on whole frames (within container rounding).
        ((exact - exact.round()).abs() < 0.25).then_some(exact.round() as u32)
    };
    let &first = keyframes.first()?;
    if frames(start, first)? != 0 {
        return None;
    }
    let gop = match keyframes.get(1) {
        Some(&second) => frames(first, second)?,
        // A single keyframe: the whole stream is one GOP.
        None => frames(first, end)?,
    };
    let regular = keyframes
        .windows(2)
        .all(|pair| frames(pair[0], pair[1]) == Some(gop));
    let tail_ok = frames(*keyframes.last()?, end).is_some_and(|tail| tail <= gop);
    (gop > 0 && regular && tail_ok).then_some(gop)
}

/// The PTS of every keyframe of the first H.264 stream, and where the stream starts and ends.
type Scan = (Vec<gst::ClockTime>, gst::ClockTime, gst::ClockTime);

fn scan_keyframes(path: &Path) -> anyhow::Result<Scan> {
    let pipeline = gst::Pipeline::with_name("keyframe-scan");
    let source = gst::ElementFactory::make("filesrc")
        .property("location", gst_util::path_str(path)?)
        .build()?;
    let parse = gst::ElementFactory::make("parsebin").build()?;
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-h264").build())
        .sync(false)
        .build();
    pipeline.add_many([&source, &parse, sink.upcast_ref()])?;
    source.link(&parse)?;

    let sink_pad = sink
        .static_pad("sink")
        .context("appsink without a sink pad")?;
    gst_util::link_first_h264(&pipeline, &parse, sink_pad);

    let _playing = NullOnDrop::play(&pipeline, |error| match error {
        Some(error) => anyhow!("scanning keyframes: {}", error.error()),
        None => anyhow!("the keyframe scan refused to start"),
    })?;
    collect(&pipeline, &sink)
}

fn collect(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> anyhow::Result<Scan> {
    let deadline = Instant::now() + SCAN_TIMEOUT;
    let bus = pipeline.bus().context("pipeline without a bus")?;
    let mut keyframes = Vec::new();
    let mut start = gst::ClockTime::MAX;
    let mut end = gst::ClockTime::ZERO;
    loop {
        if Instant::now() > deadline {
            bail!("the keyframe scan took longer than {SCAN_TIMEOUT:?}");
        }
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            let Some(buffer) = sample.buffer() else {
                continue;
            };
            let Some(pts) = buffer.pts() else {
                // A copy needs every frame's time.
                return Ok((Vec::new(), gst::ClockTime::ZERO, gst::ClockTime::ZERO));
            };
            start = start.min(pts);
            end = end.max(pts + buffer.duration().unwrap_or(gst::ClockTime::ZERO));
            if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                keyframes.push(pts);
            }
            continue;
        }
        if sink.is_eos() {
            keyframes.sort();
            keyframes.dedup();
            return Ok((keyframes, start.min(end), end));
        }
        if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(error) = message.view() {
                return Err(anyhow!("scanning keyframes: {}", error.error()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZERO: gst::ClockTime = gst::ClockTime::ZERO;
    const FRAME: Duration = Duration::from_millis(40); // 25 fps

    fn times(ms: &[u64]) -> Vec<gst::ClockTime> {
        ms.iter()
            .map(|&m| gst::ClockTime::from_mseconds(m))
            .collect()
    }

    fn ms(m: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(m)
    }

    #[test]
    fn a_keyframe_every_fifty_frames_is_a_fixed_gop_of_fifty() {
        let kf = times(&[0, 2_000, 4_000, 6_000]);
        assert_eq!(fixed_gop(&kf, ZERO, ms(7_000), FRAME), Some(50));
        // B-frames delay the first frame; the GOP is what counts.
        let kf = times(&[80, 2_080, 4_080]);
        assert_eq!(fixed_gop(&kf, ms(80), ms(5_000), FRAME), Some(50));
    }

    #[test]
    fn irregular_keyframes_are_not_a_fixed_gop() {
        let kf = times(&[0, 2_000, 3_000, 5_000]);
        assert_eq!(fixed_gop(&kf, ZERO, ms(6_000), FRAME), None);
        // Nor is a tail longer than the GOP.
        let kf = times(&[0, 1_000, 2_000]);
        assert_eq!(fixed_gop(&kf, ZERO, ms(5_000), FRAME), None);
    }

    #[test]
    fn a_stream_that_does_not_start_on_a_keyframe_has_no_fixed_gop() {
        let kf = times(&[400, 2_400]);
        assert_eq!(fixed_gop(&kf, ZERO, ms(4_000), FRAME), None);
    }

    #[test]
    fn segments_are_whole_gops_of_two_to_four_seconds() {
        let gop = |seconds| SourceGop { frames: 1, seconds };
        assert_eq!(gop(2.0).hls_target(2), 2);
        assert_eq!(gop(1.0).hls_target(2), 2);
        assert_eq!(gop(0.6).hls_target(2), 3, "5 GOPs, 3.0 s");
        assert_eq!(gop(1.5).hls_target(2), 3, "2 GOPs, 3.0 s");
        assert_eq!(gop(1.9).hls_target(2), 4, "2 GOPs, 3.8 s");
    }

    #[test]
    fn keyframes_off_the_frame_grid_are_not_trusted() {
        let kf = times(&[0, 2_020, 4_040]);
        assert_eq!(fixed_gop(&kf, ZERO, ms(5_000), FRAME), None);
    }
}
