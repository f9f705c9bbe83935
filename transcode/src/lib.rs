//! The transcode worker: GStreamer pipelines that turn one uploaded original into an H.264/AAC
//! ladder (HLS + progressive MP4) and a poster, plus the database job queue that feeds them.
//!
//! `probe`, `ladder`, `pipeline` and `poster` are blocking, synchronous GStreamer/image code with no
//! knowledge of the database or HTTP; `queue` and `worker` are the async side that leases jobs,
//! moves files through `assets` and runs the blocking parts on dedicated threads.

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
