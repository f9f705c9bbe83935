//! The transcode worker: GStreamer pipelines that turn one uploaded original into an H.264/AAC
//! ladder (HLS + progressive MP4), a poster, a storyboard and a preview, plus the database job
//! queue that feeds them.
//!
//! The blocking, synchronous side (GStreamer and image code, no database, no HTTP):
//! - `probe`: what is in an upload, which way up, and whether it decodes at all.
//! - `container`: how much of a cut-short MP4/MOV arrived, read from its boxes.
//! - `limits`: what the platform accepts, checked on the probe's findings.
//! - `ladder`: the rungs (sizes, bitrates), the output frame rate and the x264 preset.
//! - `remux`: whether the top rung can be the source's own H.264, copied.
//! - `pipeline`: the single-pass transcode itself (graph, run, frames, outputs).
//! - `hls`: every HLS playlist text, pure functions (also used when playlists are served).
//! - `poster`, `images`, `storyboard`: the still and animated images made from decoded frames.
//! - `gst_util`: GStreamer helpers shared by the pipelines (the stop-on-drop guard, pad linking).
//!
//! The async side, which leases jobs, moves files through `assets` and runs the blocking parts
//! on dedicated threads:
//! - `queue`: the job queue in the database (enqueue, lease, heartbeat, complete, fail).
//! - `worker`: the loop that runs one job from lease to a `ready` video.
//! - `early`: publishing the lowest rung while it encodes, so a video is playable early.

pub mod container;
pub mod early;
pub mod gst_util;
pub mod hls;
pub mod images;
pub mod ladder;
pub mod limits;
pub mod pipeline;
pub mod poster;
pub mod probe;
pub mod queue;
pub mod remux;
pub mod storyboard;
pub mod worker;
