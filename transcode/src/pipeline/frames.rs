//! The still images of a clip: three branches off the decoded video's tee collect frames while
//! the ladder encodes, and once the pipeline has run the poster, the storyboard and the animated
//! preview are written from them.
//
// v. ! videorate ! capsfilter(2 fps) ! queue ! videoconvert ! videoscale
//    ! capsfilter(RGB, top rung size) ! appsink    poster: frames of the first 3 s
// v. ! videorate ! capsfilter(1 fps) ! queue ! videoconvert ! videoscale
//    ! capsfilter(RGB, 160 wide) ! appsink         storyboard: sprite sheet + WebVTT track
// v. ! videorate ! capsfilter(10 fps) ! queue ! videoconvert ! videoscale
//    ! capsfilter(RGB, ≤ 320 wide) ! appsink       preview: animated WebP of the first 3 s
//
// Every queue is unbounded, and every appsink neither syncs nor prerolls. A bounded queue
// deadlocks: the appsink holds its first frame until the whole pipeline has prerolled, which
// needs encoded output, which needs more frames through the tee than a full queue lets pass
// (with a 1 fps source, one second of queue is a single frame). The poster and preview branches
// stay small because they admit only their first frames (see `admit_first`).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::gst_util::make;
use crate::images::{self, PosterImage};
use crate::ladder::Rung;
use crate::poster::{self, RgbFrame};
use crate::storyboard::{self, Thumb};

/// The animated preview: the first 3 s at 10 fps, at most 320 px wide.
const PREVIEW_FPS: i32 = 10;
const PREVIEW_MAX_FRAMES: usize = 30;
const PREVIEW_WIDTH: u32 = 320;
const PREVIEW_FILE: &str = "preview.webp";
/// Poster widths besides the top rung's own (for `srcset`).
const POSTER_WIDTHS: [u32; 3] = [720, 480, 320];
/// Poster candidates: two frames a second from the first three seconds.
const POSTER_FPS: i32 = 2;
const POSTER_WINDOW: gst::ClockTime = gst::ClockTime::from_seconds(3);
const POSTER_MAX_FRAMES: usize = 6;
const POSTER_FILE: &str = "poster.jpg";
/// Storyboard tiles: one a second (thinned for long clips), at most this many, this wide.
const STORYBOARD_FPS: i32 = 1;
const STORYBOARD_MAX: usize = 200;
const STORYBOARD_WIDTH: u32 = 160;
const STORYBOARD_IMAGE: &str = "storyboard.jpg";
const STORYBOARD_VTT: &str = "storyboard.vtt";

/// The frames the branches collected, shared with their streaming threads.
#[derive(Default)]
pub(super) struct Frames {
    poster: Mutex<Vec<RgbFrame>>,
    storyboard: Mutex<StoryboardFrames>,
    preview: Mutex<Vec<(i64, RgbFrame)>>,
}

/// The images written from the frames; paths relative to the output directory.
pub(super) struct Images {
    pub poster: String,
    pub posters: Vec<PosterImage>,
    pub preview: Option<String>,
    pub storyboard: Option<String>,
}

/// Adds the poster, storyboard and preview branches to `video_tee`, sized after the `top` rung.
pub(super) fn build_branches(
    pipeline: &gst::Pipeline,
    video_tee: &gst::Element,
    top: &Rung,
    frames: &Arc<Frames>,
) -> anyhow::Result<()> {
    let poster = Arc::clone(frames);
    let shape = (POSTER_FPS, top.width, top.height);
    let branch = frame_branch(pipeline, video_tee, shape, move |s| poster.offer_poster(s))?;
    admit_first(&branch, POSTER_MAX_FRAMES);

    let storyboard = Arc::clone(frames);
    let shape = scaled_shape(STORYBOARD_FPS, top, STORYBOARD_WIDTH);
    frame_branch(pipeline, video_tee, shape, move |s| {
        storyboard.offer_tile(s)
    })?;

    let preview = Arc::clone(frames);
    let shape = scaled_shape(PREVIEW_FPS, top, PREVIEW_WIDTH);
    let branch = frame_branch(pipeline, video_tee, shape, move |s| {
        preview.offer_preview(s)
    })?;
    admit_first(&branch, PREVIEW_MAX_FRAMES);
    Ok(())
}

impl Frames {
    /// A poster candidate: kept if it is within [`POSTER_WINDOW`], or if nothing came before.
    fn offer_poster(&self, sample: &gst::Sample) {
        let running_time = timed(sample).and_then(|(pts, segment)| segment.to_running_time(pts));
        let mut frames = self.poster.lock().unwrap();
        let in_window = running_time.is_none_or(|t| t < POSTER_WINDOW);
        if in_window || frames.is_empty() {
            frames.extend(rgb_frame(sample));
        }
    }

    /// A storyboard tile, thinned by [`StoryboardFrames`].
    fn offer_tile(&self, sample: &gst::Sample) {
        let at_ms = stream_time_ms(sample);
        let mut storyboard = self.storyboard.lock().unwrap();
        storyboard.offer(at_ms, || rgb_frame(sample));
    }

    /// A frame of the animated preview.
    fn offer_preview(&self, sample: &gst::Sample) {
        let at_ms = stream_time_ms(sample);
        if let Some(frame) = rgb_frame(sample) {
            self.preview.lock().unwrap().push((at_ms, frame));
        }
    }
}

/// Writes `poster.jpg` (the best of the poster candidates) and its sizes, the storyboard and the
/// preview from the collected frames, for a clip of `duration_ms`.
pub(super) fn write_images(
    frames: &Frames,
    duration_ms: i64,
    out_dir: &Path,
) -> anyhow::Result<Images> {
    let candidates = std::mem::take(&mut *frames.poster.lock().unwrap());
    poster::write_poster(&candidates, &out_dir.join(POSTER_FILE))?;
    let thumbs = std::mem::take(&mut frames.storyboard.lock().unwrap().thumbs);
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
    let best = poster::pick(&candidates).context("no frames to make a poster from")?;
    let posters = images::write_poster_sizes(&candidates[best], &POSTER_WIDTHS, out_dir)?;
    let preview_frames = std::mem::take(&mut *frames.preview.lock().unwrap());
    let preview = match preview_frames.last() {
        None => None,
        Some((last_ms, _)) => {
            let step = 1000 / i64::from(PREVIEW_FPS);
            let end_ms = (last_ms + step).min(duration_ms.max(last_ms + 1));
            images::write_preview(&preview_frames, end_ms, &out_dir.join(PREVIEW_FILE))?;
            Some(PREVIEW_FILE.to_owned())
        }
    };
    Ok(Images {
        poster: POSTER_FILE.to_owned(),
        posters,
        preview,
        storyboard,
    })
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

/// One branch's rate converter and queue, which the admission probes watch.
struct FrameBranch {
    rate: gst::Element,
    queue: gst::Element,
}

/// `tee ! videorate ! capsfilter(fps) ! queue ! videoconvert ! videoscale ! appsink`, the sink
/// taking RGB frames of `width` x `height` and handing each sample to `on_sample` (see the module
/// comment for the unbounded queue).
fn frame_branch(
    pipeline: &gst::Pipeline,
    video_tee: &gst::Element,
    (fps, width, height): (i32, u32, u32),
    on_sample: impl Fn(&gst::Sample) + Send + Sync + 'static,
) -> anyhow::Result<FrameBranch> {
    let rate = make("videorate").build()?;
    let rate_caps = make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .any_features()
                .framerate(gst::Fraction::new(fps, 1))
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
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                on_sample(&sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(FrameBranch { rate, queue })
}

/// Lets the first `max` frames into `branch`; once they are in, drops the rest of the video
/// before videorate even looks at it.
///
/// `Handled` rather than `Drop`: gstreamer-rs already releases the buffer, and GStreamer 1.22
/// then unrefs NULL on `Drop` (a GStreamer-CRITICAL per buffer).
fn admit_first(branch: &FrameBranch, max: usize) {
    let admitted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&admitted);
    if let Some(pad) = branch.queue.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if counted.fetch_add(1, Ordering::Relaxed) < max {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        });
    }
    if let Some(pad) = branch.rate.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if admitted.load(Ordering::Relaxed) >= max {
                gst::PadProbeReturn::Handled
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    }
}

/// A branch at `fps` whose frames are at most `max_width` wide and shaped like the `top` rung,
/// both sides even.
fn scaled_shape(fps: i32, top: &Rung, max_width: u32) -> (i32, u32, u32) {
    let width = max_width.min(top.width) & !1;
    let height =
        ((u64::from(width) * u64::from(top.height) / u64::from(top.width)) as u32).max(2) & !1;
    (fps, width, height)
}

/// A sample's timestamp with the segment that turns it into running or stream time.
fn timed(sample: &gst::Sample) -> Option<(gst::ClockTime, &gst::FormattedSegment<gst::ClockTime>)> {
    let pts = sample.buffer()?.pts()?;
    Some((pts, sample.segment()?.downcast_ref::<gst::ClockTime>()?))
}

/// A sample's position in the stream, in milliseconds (0 when unknown).
fn stream_time_ms(sample: &gst::Sample) -> i64 {
    timed(sample)
        .and_then(|(pts, segment)| segment.to_stream_time(pts))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
