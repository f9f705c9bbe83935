//! The job both sides of the transcode benchmark do: the source as both see it, and the segment
//! length they both cut.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use vitrine_transcode::{ladder, probe};

/// Segment length, also the keyframe interval, on both sides (Vitrine's default).
pub(super) const SEGMENT_SECONDS: u32 = 2;

/// The source as both sides see it.
pub(super) struct Source {
    pub path: PathBuf,
    /// Display size: rotation and pixel aspect applied.
    pub width: u32,
    pub height: u32,
    pub rotation: u32,
    pub codec: String,
    pub has_audio: bool,
    pub duration_seconds: f64,
    /// Constant output frame rate (numerator, denominator).
    pub rate: (i32, i32),
}

impl Source {
    pub(super) fn probe(path: &Path) -> anyhow::Result<Self> {
        let info = probe::probe(path, probe::DEFAULT_TIMEOUT)
            .with_context(|| format!("probing {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            width: info.width,
            height: info.height,
            rotation: info.rotation,
            codec: info.video_codec,
            has_audio: info.has_audio,
            duration_seconds: info.duration_ms as f64 / 1000.0,
            rate: ladder::output_rate(info.framerate),
        })
    }

    /// Frames per GOP: one segment's worth.
    pub(super) fn gop(&self) -> u32 {
        let fps = f64::from(self.rate.0) / f64::from(self.rate.1);
        ((fps * f64::from(SEGMENT_SECONDS)).round() as u32).max(1)
    }
}
