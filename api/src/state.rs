//! The application state every handler receives.

use std::{path::PathBuf, sync::Arc};

use vitrine_assets::Store;
use vitrine_core::{
    db::Db,
    limits::{MediaLimits, UploadQuotas},
};
use vitrine_identity::{mail::Mailer, sessions::SessionPolicy};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Store,
    pub urls: Arc<Urls>,
    pub limits: Arc<Limits>,
    /// How long sessions last.
    pub sessions: SessionPolicy,
    /// Callers kept between their requests (`principal::Callers`).
    pub callers: Arc<vitrine_identity::principal::Callers>,
    /// Mail to people (verification and reset links).
    pub mail: Arc<Mailer>,
    /// Per-client request budgets.
    pub rate: Arc<crate::rate::RateLimits>,
}

/// How the URLs we hand out are built.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Base of API URLs, e.g. `http://127.0.0.1:8080`.
    pub public: String,
    /// Base under which object keys are served, e.g. `http://127.0.0.1:8080/media`.
    pub media: String,
}

impl Urls {
    pub fn media(&self, key: &str) -> String {
        format!("{}/{}", self.media.trim_end_matches('/'), key)
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Where request bodies are spooled while they are hashed and probed.
    pub spool_dir: PathBuf,
    /// How long a placed order waits for payment before its stock is released.
    pub order_expiry: std::time::Duration,
    /// Most live product tags one video shows.
    pub max_live_tags: i64,
    /// How long an unfinished resumable upload can be resumed.
    pub upload_expiry: std::time::Duration,
    /// Duration, size and frame-rate limits for uploaded videos.
    pub media: MediaLimits,
    /// Per-creator upload quotas and the disk's free-space floor.
    pub quotas: UploadQuotas,
    /// Largest product picture accepted, in pixels (read from its header before decoding).
    pub max_image_pixels: u64,
    /// Product pictures decoded at once at most (each may take a few hundred MB while it is).
    pub image_work: Arc<tokio::sync::Semaphore>,
    /// Single-request uploads being received by this process, per creator (they have no row
    /// until they are accepted; see `vitrine_ingest::quota`).
    pub uploads_in_flight: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}
