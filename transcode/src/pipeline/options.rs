//! What a transcode is asked to do: the ladder, the segment length, the copied top rung and the
//! limits a run must stay within.

use std::time::Duration;

use crate::ladder::Rung;
use crate::remux::SourceGop;

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
    pub copy_top: Option<SourceGop>,
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

    /// The HLS target duration: one segment, or with a copied top rung the whole number of
    /// seconds that makes segments of whole source GOPs (see [`SourceGop::hls_target`]). The
    /// same on every rung, so segments align.
    pub(super) fn hls_target(&self) -> u32 {
        self.copy_top.map_or(self.segment_seconds, |gop| {
            gop.hls_target(self.segment_seconds)
        })
    }
}
