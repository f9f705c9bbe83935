//! What the platform accepts from creators (checked against a probe in `vitrine-transcode`).

/// Configurable acceptance limits (defaults: 10 min, 4096 px on the long side, 120 fps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaLimits {
    pub max_duration_ms: i64,
    pub max_long_side: u32,
    pub max_fps: f64,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_duration_ms: 10 * 60 * 1000,
            max_long_side: 4096,
            max_fps: 120.0,
        }
    }
}
