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

/// What one creator may have in flight and upload per day, and the disk space every upload
/// leaves free (defaults: 10 unfinished uploads, 20 GiB of them, 200 uploads and 600 minutes a
/// day, 1 GiB free).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadQuotas {
    /// Resumable uploads started and not finished, per creator.
    pub max_unfinished_uploads: i64,
    /// Their announced (or received) bytes, per creator.
    pub max_unfinished_bytes: u64,
    /// Uploads started in the last 24 hours, per creator.
    pub max_uploads_per_day: i64,
    /// Minutes of video admitted in the last 24 hours, per creator.
    pub max_upload_minutes_per_day: i64,
    /// New uploads are refused (507) before the data directory's disk has less free than this.
    pub min_free_disk_bytes: u64,
}

impl Default for UploadQuotas {
    fn default() -> Self {
        UploadQuotas {
            max_unfinished_uploads: 10,
            max_unfinished_bytes: 20 << 30,
            max_uploads_per_day: 200,
            max_upload_minutes_per_day: 600,
            min_free_disk_bytes: 1 << 30,
        }
    }
}
