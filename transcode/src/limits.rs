//! What the platform accepts, checked on the probe's findings before anything is stored or
//! queued: a 40-minute film or an 8K screen recording is refused at the door with a reason the
//! creator can act on, not discovered by a worker an hour later.

use std::fmt;

pub use vitrine_core::limits::MediaLimits;

use crate::probe::ProbeInfo;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    #[error("the video is {} long; the limit is {}", Clock(*.duration_ms), Clock(*.limit_ms))]
    TooLong { duration_ms: i64, limit_ms: i64 },
    #[error("the video is {width}x{height}; the longest side may be at most {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u32 },
    #[error("the video runs at {fps:.0} frames per second; the limit is {limit:.0}")]
    FrameRateTooHigh { fps: f64, limit: f64 },
}

impl LimitError {
    /// Stable machine-readable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::TooLong { .. } => "video_too_long",
            LimitError::TooLarge { .. } => "video_too_large",
            LimitError::FrameRateTooHigh { .. } => "frame_rate_too_high",
        }
    }
}

/// Whether a probed upload is within `limits`.
pub fn check(limits: &MediaLimits, info: &ProbeInfo) -> Result<(), LimitError> {
    if info.duration_ms > limits.max_duration_ms {
        return Err(LimitError::TooLong {
            duration_ms: info.duration_ms,
            limit_ms: limits.max_duration_ms,
        });
    }
    if info.width.max(info.height) > limits.max_long_side {
        return Err(LimitError::TooLarge {
            width: info.width,
            height: info.height,
            limit: limits.max_long_side,
        });
    }
    if let Some((n, d)) = info.framerate {
        let fps = f64::from(n) / f64::from(d);
        if fps > limits.max_fps {
            return Err(LimitError::FrameRateTooHigh {
                fps,
                limit: limits.max_fps,
            });
        }
    }
    Ok(())
}

/// A duration as a person says it: `14m 3s`, `10m`, `45s`, `1.5s`.
struct Clock(i64);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.max(0);
        let (m, s) = (ms / 60_000, (ms % 60_000) / 1000);
        match (m, s) {
            (0, 0..=9) if ms % 1000 != 0 => write!(f, "{:.1}s", ms as f64 / 1000.0),
            (0, s) => write!(f, "{s}s"),
            (m, 0) => write!(f, "{m}m"),
            (m, s) => write!(f, "{m}m {s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(duration_ms: i64, width: u32, height: u32, fps: Option<(i32, i32)>) -> ProbeInfo {
        ProbeInfo {
            duration_ms,
            width,
            height,
            rotation: 0,
            video_codec: "H.264".into(),
            has_audio: true,
            framerate: fps,
            video_bitrate: None,
            plain_h264: true,
        }
    }

    #[test]
    fn limits_name_the_number_that_was_over() {
        let limits = MediaLimits::default();
        assert!(check(&limits, &info(30_000, 1080, 1920, Some((30, 1)))).is_ok());
        let e = check(&limits, &info(843_000, 1080, 1920, None)).unwrap_err();
        assert_eq!(e.to_string(), "the video is 14m 3s long; the limit is 10m");
        assert_eq!(e.code(), "video_too_long");
        let e = check(&limits, &info(1000, 4320, 7680, None)).unwrap_err();
        assert!(e.to_string().contains("4320x7680"), "{e}");
        let e = check(&limits, &info(1000, 720, 1280, Some((240, 1)))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the video runs at 240 frames per second; the limit is 120"
        );
        // Variable frame rate (unknown) is not a reason to refuse.
        assert!(check(&limits, &info(1000, 720, 1280, None)).is_ok());
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(Clock(600_000).to_string(), "10m");
        assert_eq!(Clock(45_000).to_string(), "45s");
        assert_eq!(Clock(1_500).to_string(), "1.5s");
        assert_eq!(Clock(61_000).to_string(), "1m 1s");
    }
}
