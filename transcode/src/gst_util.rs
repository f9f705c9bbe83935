//! Small GStreamer helpers shared by every pipeline in the crate (the transcode graph, the
//! keyframe scan): a guard that always stops a pipeline, and the linking of `parsebin`'s and
//! `decodebin`'s dynamic pads.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;

/// How long dropping a pipeline waits for it to stop (see [`NullOnDrop`]).
const TEARDOWN_WAIT: Duration = Duration::from_secs(2);
/// How long a pipeline that refused to start is given to post its reason on the bus.
const START_ERROR_WAIT: gst::ClockTime = gst::ClockTime::from_mseconds(100);

pub(crate) fn make(factory: &str) -> gst::element_factory::ElementBuilder<'_> {
    gst::ElementFactory::make(factory)
}

/// A path as GStreamer's `location` properties (and command lines) take it.
pub fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Sets the pipeline to `Null` when dropped, whatever happened.
pub(crate) struct NullOnDrop(gst::Pipeline);

impl NullOnDrop {
    /// Sets `pipeline` to `Playing`, returning the guard that stops it. If the pipeline refuses
    /// to start, it is stopped at once and the error is `refused` of the reason it posted on the
    /// bus (`None` if it posted none).
    pub(crate) fn play<E>(
        pipeline: &gst::Pipeline,
        refused: impl FnOnce(Option<&gst::message::Error>) -> E,
    ) -> Result<Self, E> {
        let guard = Self(pipeline.clone());
        if pipeline.set_state(gst::State::Playing).is_ok() {
            return Ok(guard);
        }
        // The reason is on the bus.
        let message = pipeline
            .bus()
            .and_then(|bus| bus.timed_pop_filtered(START_ERROR_WAIT, &[gst::MessageType::Error]));
        let error = message.as_ref().and_then(|message| match message.view() {
            gst::MessageView::Error(error) => Some(error),
            _ => None,
        });
        Err(refused(error))
    }
}

impl Drop for NullOnDrop {
    /// Stops the pipeline on a thread of its own and waits for it at most [`TEARDOWN_WAIT`]. On
    /// 1.22, stopping mid-stream can deadlock inside hlssink2's splitmuxsink (its input queue
    /// blocks on the muxer while the state change waits for that queue's stream lock): the job
    /// must not hang on it, so a teardown that takes too long is left to its thread.
    fn drop(&mut self) {
        let pipeline = self.0.clone();
        let name = pipeline.name();
        let (done, stopped) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("pipeline-teardown".into())
            .spawn(move || {
                if let Err(error) = pipeline.set_state(gst::State::Null) {
                    tracing::warn!(%error, "could not stop the {} pipeline", pipeline.name());
                }
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => {
                if stopped.recv_timeout(TEARDOWN_WAIT).is_err() {
                    tracing::error!(
                        "the {name} pipeline is still stopping after {TEARDOWN_WAIT:?}; \
                         leaving it to its own thread"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%error, "no thread for the teardown; stopping inline");
                let _ = self.0.set_state(gst::State::Null);
            }
        }
    }
}

/// Links the first H.264 stream `parsebin` exposes to `target` and every other stream to a
/// fakesink.
pub(crate) fn link_first_h264(pipeline: &gst::Pipeline, parsebin: &gst::Element, target: gst::Pad) {
    let pipeline_weak = pipeline.downgrade();
    parsebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let linked = if is_h264(pad) && !target.is_linked() {
            pad.link(&target).map(|_| ()).map_err(anyhow::Error::from)
        } else {
            discard(&pipeline, pad)
        };
        if let Err(error) = linked {
            tracing::warn!(
                error = format!("{error:#}"),
                "linking a parsed stream failed"
            );
        }
    });
}

/// Whether `pad` carries encoded H.264.
fn is_h264(pad: &gst::Pad) -> bool {
    pad.current_caps()
        .unwrap_or_else(|| pad.query_caps(None))
        .structure(0)
        .is_some_and(|s| s.name() == "video/x-h264")
}

/// Links `pad` to a new fakesink: a stream nobody uses.
pub(crate) fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) -> anyhow::Result<()> {
    let sink = make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
        .context("creating a fakesink")?;
    pipeline.add(&sink).context("adding a fakesink")?;
    sink.sync_state_with_parent()
        .context("starting a fakesink")?;
    let sink_pad = sink
        .static_pad("sink")
        .context("fakesink without sink pad")?;
    pad.link(&sink_pad).context("discarding an unused stream")?;
    Ok(())
}
