//! The one typed configuration: defaults, then an optional TOML file (`--config`), then
//! environment variables (`VITRINE_…`, plus `DATABASE_URL`). Every subcommand reads the same
//! struct, so `serve`, `migrate`, `account` and `upload` always agree on where data lives.
//!
//! The file is a tree of sections, one per part of the system (`[server]`, `[storage]`,
//! `[uploads]`, `[transcode]`, `[feed]`, `[shop]`, `[auth]`), and spans of time are
//! [`Duration`]s written as `"30m"`, `"24h"` or `"500ms"`. The environment keeps its flat names
//! with the unit in them (`VITRINE_ORDER_EXPIRY_MINUTES=0.5`): [`env`] maps each onto its place
//! in the tree, so deployments and scripts written against them keep working.
//!
//! Secrets (the database and SMTP URLs, which may carry a password) are [`SecretString`]s: the
//! configuration can be logged with `{:?}` and they show as `[REDACTED]`.
//!
//! (About 930 lines, 350 of them unit tests: every setting with its default and its variable in
//! one file, so an operator reads the whole configuration top to bottom.)

mod env;

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use figment::{
    providers::{Format, Serialized, Toml},
    Figment,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP side: where it listens, the URLs it hands out, its timeouts and caps.
    pub server: ServerConfig,
    /// Where data lives: the data dir, the database, the object store.
    pub storage: StorageConfig,
    /// What a creator may upload: sizes, media limits, quotas.
    pub uploads: UploadConfig,
    /// The transcode workers: the ladder, their pace, leases and retries.
    pub transcode: TranscodeConfig,
    /// The feed ranker: weights, priors, traffic-pool stages, rules and candidate sources
    /// (`vitrine_feed::config::RankConfig` documents each; `VITRINE_FEED` as an inline table).
    pub feed: vitrine_feed::RankConfig,
    /// Orders, payments, tags and product pictures.
    pub shop: ShopConfig,
    /// Sessions and the mail that carries verification and reset links.
    pub auth: AuthConfig,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on. `VITRINE_BIND`, default `127.0.0.1:8080`.
    pub bind: String,
    /// Base of the absolute URLs handed to clients. `VITRINE_PUBLIC_URL`, default `http://` +
    /// the bound address.
    pub public_url: Option<String>,
    /// Base URL media objects are served from, e.g. a CDN in front of the bucket.
    /// `VITRINE_MEDIA_URL`, default `PUBLIC_URL/media` (served by the API itself).
    pub media_url: Option<String>,
    /// Time a client has to send a request's headers, from the moment it connects or its
    /// previous answer went out (`VITRINE_HEADER_READ_TIMEOUT_SECONDS`, default 10 s).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a client may take no byte of an answer before its connection is closed (a client
    /// that stopped reading a download; `VITRINE_IDLE_TIMEOUT_SECONDS`, default 60 s). Idle
    /// keep-alive connections end with `header_read_timeout`, stalled upload bodies after 60 s
    /// without a byte.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time a request may take to be answered (`VITRINE_REQUEST_TIMEOUT_SECONDS`, default
    /// 30 s); 503 `timeout` after that.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The same for uploads and media, whose bodies are large
    /// (`VITRINE_UPLOAD_TIMEOUT_SECONDS`, default 1 h: use resumable uploads for more).
    #[serde(with = "humantime_serde")]
    pub upload_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed
    /// (`VITRINE_MAX_CONNECTIONS`, default 4096, and never more than the open-file limit allows).
    pub max_connections: usize,
    /// Requests being answered at once at most; more are answered 503 `overloaded` with
    /// `Retry-After` at once (`VITRINE_MAX_IN_FLIGHT`, default 512).
    pub max_in_flight: usize,
    /// Addresses of the load balancers in front of this process
    /// (`VITRINE_TRUSTED_PROXIES='["10.0.0.5"]'`): from them, the client's address is read from
    /// `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Per-client request budgets (`[server.rate_limits]`, or
    /// `VITRINE_RATE_LIMITS='{reads={per_minute=600,burst=200}}'`; see
    /// `vitrine_api::rate::RateLimitConfig`).
    pub rate_limits: vitrine_api::rate::RateLimitConfig,
    /// Where the web pages' vendored npm packages are (`VITRINE_WEB_VENDOR_DIR`; default
    /// `DATA_DIR/vendor`). `npm ci --prefix web` fills `web/node_modules` in a checkout, which
    /// `scripts/start.sh` points this at. Never a path baked in at build time: the binary runs
    /// on machines that never saw the checkout it was built from.
    pub web_vendor_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            media_url: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            upload_timeout: HOUR,
            max_connections: 4096,
            max_in_flight: 512,
            trusted_proxies: Vec::new(),
            rate_limits: vitrine_api::rate::RateLimitConfig::default(),
            web_vendor_dir: None,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Home of the embedded defaults: the SQLite database, the filesystem object store and scratch
    /// space. `VITRINE_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…` (it may hold a password: never printed).
    /// `DATABASE_URL` (or `VITRINE_DATABASE_URL`), default SQLite in the data dir.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// Where objects go: `"filesystem"` (under `DATA_DIR/objects`) or `"s3"` (the `s3`
    /// settings). `VITRINE_STORE`; unset, S3 when a bucket is set, as before this setting
    /// existed, else the filesystem.
    pub store: Option<StoreKind>,
    /// The S3-compatible store's settings (`[storage.s3]`).
    pub s3: S3Settings,
    /// How long raw viewer events, tag impressions and product clicks are kept
    /// (`VITRINE_RAW_EVENT_RETENTION_DAYS`, default 90 days, at least 15: clicks credit sales
    /// for 14 days); older impressions and clicks are rolled up per day, so analytics keep their
    /// totals.
    #[serde(with = "humantime_serde")]
    pub raw_event_retention: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            store: None,
            s3: S3Settings::default(),
            raw_event_retention: 90 * DAY,
        }
    }
}

/// Which object store holds uploads and renditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Filesystem,
    S3,
}

/// `[storage.s3]`. Credentials are not configuration: they come from the standard AWS chain
/// (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, a profile, an instance role).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// S3-compatible endpoint (`VITRINE_S3_ENDPOINT`); unset means AWS itself.
    pub endpoint: Option<String>,
    /// The bucket holding every object (`VITRINE_S3_BUCKET`).
    pub bucket: Option<String>,
    /// `VITRINE_S3_REGION`, default `us-east-1`.
    pub region: String,
    /// Path-style addressing (`VITRINE_S3_PATH_STYLE`), needed by most self-hosted S3 servers.
    pub path_style: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            bucket: None,
            region: "us-east-1".into(),
            path_style: false,
        }
    }
}

/// `[uploads]`: everything the ingest checks before it takes a video, in one place (the
/// server's own caps are in `[server]`, the workers' pace in `[transcode]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest accepted upload in bytes (`VITRINE_MAX_UPLOAD_BYTES`, default 4 GiB).
    pub max_bytes: u64,
    /// How long an unfinished resumable upload may be resumed before it is swept away
    /// (`VITRINE_UPLOAD_EXPIRY_HOURS`, default 24 h).
    #[serde(with = "humantime_serde")]
    pub expiry: Duration,
    /// Longest accepted video (`VITRINE_MAX_DURATION_SECONDS`, default 10 min), enforced again
    /// while decoding.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Largest accepted long side in pixels (`VITRINE_MAX_LONG_SIDE`, default 4096).
    pub max_long_side: u32,
    /// Highest accepted frame rate (`VITRINE_MAX_FPS`, default 120).
    pub max_fps: f64,
    /// Resumable uploads one creator may have unfinished (`VITRINE_MAX_UNFINISHED_UPLOADS`,
    /// default 10); more get 429 `too_many_unfinished_uploads`.
    pub max_unfinished: u32,
    /// Bytes those may hold together (`VITRINE_MAX_UNFINISHED_BYTES`, default 20 GiB).
    pub max_unfinished_bytes: u64,
    /// Uploads one creator may start in 24 hours (`VITRINE_MAX_UPLOADS_PER_DAY`, default 200);
    /// more get 429 `daily_upload_limit` with `Retry-After`.
    pub max_per_day: u32,
    /// Minutes of video one creator may upload in 24 hours
    /// (`VITRINE_MAX_UPLOAD_MINUTES_PER_DAY`, default 600); more get 422 `daily_minutes_limit`.
    /// A quantity of footage counted in whole minutes, as the quota and its error speak of it,
    /// not a span of time.
    pub max_minutes_per_day: u32,
    /// New uploads are refused with 507 `insufficient_storage` before the data directory's
    /// disk has less free space than this (`VITRINE_MIN_FREE_DISK_BYTES`, default 1 GiB).
    pub min_free_disk_bytes: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_bytes: 4 << 30,
            expiry: 24 * HOUR,
            max_duration: 10 * MINUTE,
            max_long_side: 4096,
            max_fps: 120.0,
            max_unfinished: 10,
            max_unfinished_bytes: 20 << 30,
            max_per_day: 200,
            max_minutes_per_day: 600,
            min_free_disk_bytes: 1 << 30,
        }
    }
}

/// `[transcode]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeConfig {
    /// Short sides of the ladder, largest first (`VITRINE_LADDER="[1080,720,480,360,240]"`).
    pub ladder: Vec<u32>,
    /// Transcode jobs one worker process runs at once (`VITRINE_WORKER_CONCURRENCY`, default 1).
    pub worker_concurrency: usize,
    /// How long a job lease lasts without a heartbeat (`VITRINE_LEASE_SECONDS`, default 60 s,
    /// at least 3 s).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Time between queue polls of an idle worker (`VITRINE_POLL_INTERVAL_MS`, default
    /// 500 ms, at least 10 ms).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Time without pipeline progress before a transcode counts as stuck
    /// (`VITRINE_STALL_TIMEOUT_SECONDS`, default 60 s).
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// Base of the retry backoff, doubled per attempt (`VITRINE_RETRY_BACKOFF_SECONDS`,
    /// default 5 s).
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Wall-clock time a transcode attempt may take per second of `uploads.max_duration`, plus
    /// a minute (`VITRINE_TRANSCODE_TIME_FACTOR`, default 6: an hour for the 10-minute limit);
    /// past it the attempt stops and is retried.
    pub time_factor: f64,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        TranscodeConfig {
            ladder: vitrine_transcode::ladder::DEFAULT_SHORT_SIDES.to_vec(),
            worker_concurrency: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_secs(5),
            time_factor: 6.0,
        }
    }
}

/// `[shop]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopConfig {
    /// How long an unpaid order holds its stock (`VITRINE_ORDER_EXPIRY_MINUTES`, default
    /// 30 min).
    #[serde(with = "humantime_serde")]
    pub order_expiry: Duration,
    /// Most live product tags on one video (`VITRINE_MAX_LIVE_TAGS`, default 5).
    pub max_live_tags: u32,
    /// Who takes payments (`VITRINE_PAYMENT_PROVIDER`). Only `test` is built in (the embedded
    /// default): it moves no money, says so at start and in every payment answer
    /// (`"test_mode": true`). A real provider implements `vitrine_shop::payment::PaymentProvider`.
    pub payment_provider: String,
    /// Time a call to the payment provider may take (`VITRINE_PAYMENT_TIMEOUT_SECONDS`, default
    /// 10 s, between 10 ms and 10 min); an order whose answer did not come is settled by asking
    /// the provider later.
    #[serde(with = "humantime_serde")]
    pub payment_timeout: Duration,
    /// Largest product picture accepted, in pixels, read from its header before it is decoded
    /// (`VITRINE_MAX_IMAGE_PIXELS`, default 25000000); larger ones get 422 `image_too_large`.
    pub max_image_pixels: u64,
    /// Product pictures processed at once at most (`VITRINE_IMAGE_WORKERS`, default 2); the
    /// next ones wait up to 10 s, then get 503 `overloaded`.
    pub image_workers: usize,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            order_expiry: 30 * MINUTE,
            max_live_tags: 5,
            payment_provider: "test".into(),
            payment_timeout: Duration::from_secs(10),
            max_image_pixels: vitrine_shop::images::DEFAULT_MAX_PIXELS,
            image_workers: 2,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a session lasts from sign-in, however it is used
    /// (`VITRINE_SESSION_LIFETIME_HOURS`, default 30 days).
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// How long a session lasts unused (`VITRINE_SESSION_IDLE_HOURS`, default 7 days).
    #[serde(with = "humantime_serde")]
    pub session_idle: Duration,
    /// Where mail to people goes (`VITRINE_SMTP_URL`: `smtp://host:port`, `?tls=required` for
    /// STARTTLS, `smtps://user:pass@host` for TLS; it may hold a password: never printed).
    /// Unset: written as `.eml` files under `DATA_DIR/mail/`, with the links in the log.
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    /// The sender of that mail (`VITRINE_MAIL_FROM`, default `Vitrine <no-reply@localhost>`).
    pub mail_from: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_lifetime: 30 * DAY,
            session_idle: 7 * DAY,
            smtp_url: None,
            mail_from: "Vitrine <no-reply@localhost>".into(),
        }
    }
}

impl Config {
    /// Defaults ← `file` (if given) ← environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let config = figment
            .merge(env::FlatEnv)
            .extract::<Config>()
            .context("reading configuration")?;
        config.feed.validate().map_err(anyhow::Error::msg)?;
        config.storage.object_store()?;
        Ok(config)
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.bind_addr()
    }

    /// The public base URL for a server bound at `bound`.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.server.public_url_for(bound)
    }

    /// The database URL (the configured one, else SQLite in the data dir).
    pub fn database_url(&self) -> SecretString {
        self.storage.database_url()
    }
}

impl ServerConfig {
    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.bind.parse().with_context(|| {
            format!(
                "VITRINE_BIND {:?} is not an address like 127.0.0.1:8080",
                self.bind
            )
        })
    }

    /// The public base URL for a server bound at `bound`.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The web pages' vendored packages: the configured directory, else `DATA_DIR/vendor`.
    pub fn web_vendor_dir(&self, data_dir: &Path) -> PathBuf {
        self.web_vendor_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("vendor"))
    }

    /// The server's connection limits.
    pub fn limits(&self) -> crate::server::ServerLimits {
        crate::server::ServerLimits {
            header_read_timeout: sane_timeout(self.header_read_timeout),
            idle_timeout: sane_timeout(self.idle_timeout),
            max_connections: self.max_connections.max(1),
        }
    }

    /// What each request is admitted under.
    pub fn admission(&self) -> crate::admission::Policy {
        crate::admission::Policy {
            request_timeout: sane_timeout(self.request_timeout),
            upload_timeout: sane_timeout(self.upload_timeout),
            max_in_flight: self.max_in_flight.max(1),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// A zero timeout would refuse everything, a huge one overflows the timers.
fn sane_timeout(timeout: Duration) -> Duration {
    timeout.clamp(Duration::from_millis(1), Duration::from_secs(1_000_000_000))
}

/// The object store [`StorageConfig::object_store`] chose, with what opening it needs.
#[derive(Debug, Clone)]
pub enum ObjectStore {
    /// Objects as files under this directory.
    Filesystem(PathBuf),
    S3(vitrine_assets::S3Config),
}

impl StorageConfig {
    /// The database URL (the configured one, else SQLite in the data dir).
    pub fn database_url(&self) -> SecretString {
        self.database_url
            .clone()
            .unwrap_or_else(|| vitrine_core::db::Db::sqlite_url_in(&self.data_dir).into())
    }

    /// `store` when it is set; else S3 when a bucket is (how a deployment chose S3 before
    /// `store` existed), else the filesystem.
    pub fn store_kind(&self) -> StoreKind {
        self.store.unwrap_or(match self.s3.bucket {
            Some(_) => StoreKind::S3,
            None => StoreKind::Filesystem,
        })
    }

    /// The chosen store and its settings; S3 without a bucket is an error.
    pub fn object_store(&self) -> anyhow::Result<ObjectStore> {
        Ok(match self.store_kind() {
            StoreKind::Filesystem => ObjectStore::Filesystem(self.data_dir.join("objects")),
            StoreKind::S3 => ObjectStore::S3(vitrine_assets::S3Config {
                endpoint: self.s3.endpoint.clone(),
                bucket: self.s3.bucket.clone().context(
                    "storage.store is \"s3\" but no bucket is set (storage.s3.bucket, VITRINE_S3_BUCKET)",
                )?,
                region: self.s3.region.clone(),
                path_style: self.s3.path_style,
            }),
        })
    }

    /// How long raw events are kept: at least the 14 days clicks credit sales, and a day more.
    pub fn raw_event_retention(&self) -> Duration {
        self.raw_event_retention.max(15 * DAY)
    }
}

impl UploadConfig {
    pub fn media_limits(&self) -> vitrine_core::limits::MediaLimits {
        vitrine_core::limits::MediaLimits {
            max_duration_ms: millis(self.max_duration),
            max_long_side: self.max_long_side,
            max_fps: self.max_fps,
        }
    }

    /// The per-creator upload quotas and the disk's floor.
    pub fn quotas(&self) -> vitrine_core::limits::UploadQuotas {
        vitrine_core::limits::UploadQuotas {
            max_unfinished_uploads: i64::from(self.max_unfinished),
            max_unfinished_bytes: self.max_unfinished_bytes,
            max_uploads_per_day: i64::from(self.max_per_day),
            max_upload_minutes_per_day: i64::from(self.max_minutes_per_day),
            min_free_disk_bytes: self.min_free_disk_bytes,
        }
    }
}

impl TranscodeConfig {
    /// The worker's settings; `uploads` bounds what it decodes, `data_dir` holds its scratch
    /// space.
    pub fn worker(
        &self,
        uploads: &UploadConfig,
        data_dir: &Path,
    ) -> vitrine_transcode::worker::WorkerConfig {
        vitrine_transcode::worker::WorkerConfig {
            concurrency: self.worker_concurrency,
            lease: self.lease.max(Duration::from_secs(3)),
            poll_interval: self.poll_interval.max(Duration::from_millis(10)),
            ladder: self.ladder.clone(),
            stall_timeout: self.stall_timeout.max(Duration::from_secs(1)),
            work_dir: data_dir.join("work"),
            retry_backoff: self.retry_backoff,
            max_duration: uploads.max_duration,
            time_factor: self.time_factor,
        }
    }
}

impl ShopConfig {
    /// The payment provider named by `payment_provider`, its calls bounded by the timeout.
    pub fn payments(&self) -> anyhow::Result<vitrine_shop::payment::Payments> {
        let provider: std::sync::Arc<dyn vitrine_shop::payment::PaymentProvider> =
            match self.payment_provider.as_str() {
                "test" => std::sync::Arc::new(vitrine_shop::payment::TestPaymentProvider::default()),
                other => anyhow::bail!(
                    "payment_provider {other:?} is not built in: the only one is \"test\" (no money moves)"
                ),
            };
        Ok(vitrine_shop::payment::Payments::new(
            provider,
            self.payment_timeout
                .clamp(Duration::from_millis(10), 10 * MINUTE),
        ))
    }
}

impl AuthConfig {
    pub fn session_policy(&self) -> vitrine_identity::sessions::SessionPolicy {
        vitrine_identity::sessions::SessionPolicy {
            lifetime_ms: millis(self.session_lifetime),
            idle_ms: millis(self.session_idle),
        }
    }

    /// The mailer for `smtp_url` (or the `.eml` files under `data_dir`).
    pub fn mailer(&self, data_dir: &Path) -> anyhow::Result<vitrine_identity::mail::Mailer> {
        vitrine_identity::mail::Mailer::new(
            self.smtp_url.as_ref().map(ExposeSecret::expose_secret),
            &self.mail_from,
            data_dir,
        )
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Config {
        Config::load(Some(Path::new(file))).unwrap()
    }

    /// The README's TOML example that starts with `first_line`.
    fn readme_toml(first_line: &str) -> &'static str {
        let readme = include_str!("../../README.md");
        let start = readme
            .find(&format!("```toml\n{first_line}\n"))
            .unwrap_or_else(|| panic!("README has a TOML example starting with {first_line}"))
            + "```toml\n".len();
        &readme[start..start + readme[start..].find("```").unwrap()]
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn environment_overrides_the_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vitrine.toml",
                r#"
                [storage]
                data_dir = "/srv/vitrine"
                [server]
                bind = "0.0.0.0:9000"
                [transcode]
                ladder = [1080, 720, 360]
                "#,
            )?;
            jail.set_env("VITRINE_BIND", "127.0.0.1:7000");
            jail.set_env("DATABASE_URL", "postgres://db/vitrine");
            jail.set_env("VITRINE_S3_PATH_STYLE", "true");
            jail.set_env("VITRINE_TOKEN", "not configuration");
            let config = load("vitrine.toml");
            assert_eq!(config.storage.data_dir, PathBuf::from("/srv/vitrine"));
            assert_eq!(config.server.bind, "127.0.0.1:7000");
            assert_eq!(config.transcode.ladder, vec![1080, 720, 360]);
            assert_eq!(
                config.database_url().expose_secret(),
                "postgres://db/vitrine"
            );
            assert!(config.storage.s3.path_style);
            assert_eq!(config.storage.s3.region, "us-east-1");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn every_flat_variable_lands_in_its_section_in_the_unit_its_name_says() {
        figment::Jail::expect_with(|jail| {
            for (name, value) in [
                ("VITRINE_DATA_DIR", "/var/lib/vitrine"),
                ("VITRINE_PUBLIC_URL", "https://api.example.com"),
                ("VITRINE_MEDIA_URL", "https://cdn.example.com"),
                ("VITRINE_S3_ENDPOINT", "http://minio:9000"),
                ("VITRINE_S3_BUCKET", "clips"),
                ("VITRINE_S3_REGION", "eu-west-3"),
                ("VITRINE_MAX_UPLOAD_BYTES", "1000"),
                ("VITRINE_UPLOAD_EXPIRY_HOURS", "0.5"),
                ("VITRINE_MAX_LIVE_TAGS", "7"),
                ("VITRINE_ORDER_EXPIRY_MINUTES", "0.5"),
                ("VITRINE_MAX_DURATION_SECONDS", "90"),
                ("VITRINE_MAX_UNFINISHED_UPLOADS", "3"),
                ("VITRINE_MAX_UNFINISHED_BYTES", "4000"),
                ("VITRINE_MAX_UPLOADS_PER_DAY", "5"),
                ("VITRINE_MAX_UPLOAD_MINUTES_PER_DAY", "6"),
                ("VITRINE_MIN_FREE_DISK_BYTES", "7000"),
                ("VITRINE_TRANSCODE_TIME_FACTOR", "2.5"),
                ("VITRINE_MAX_LONG_SIDE", "1920"),
                ("VITRINE_MAX_FPS", "60"),
                ("VITRINE_WORKER_CONCURRENCY", "2"),
                ("VITRINE_LEASE_SECONDS", "10"),
                ("VITRINE_POLL_INTERVAL_MS", "100"),
                ("VITRINE_LADDER", "[720,360]"),
                ("VITRINE_STALL_TIMEOUT_SECONDS", "30"),
                ("VITRINE_RETRY_BACKOFF_SECONDS", "1"),
                ("VITRINE_SESSION_LIFETIME_HOURS", "48"),
                ("VITRINE_SESSION_IDLE_HOURS", "1.5"),
                ("VITRINE_SMTP_URL", "smtp://mail:25"),
                ("VITRINE_MAIL_FROM", "Shop <shop@example.com>"),
                ("VITRINE_HEADER_READ_TIMEOUT_SECONDS", "2.5"),
                ("VITRINE_IDLE_TIMEOUT_SECONDS", "3"),
                ("VITRINE_REQUEST_TIMEOUT_SECONDS", "4"),
                ("VITRINE_UPLOAD_TIMEOUT_SECONDS", "5"),
                ("VITRINE_MAX_CONNECTIONS", "50"),
                ("VITRINE_MAX_IN_FLIGHT", "2"),
                ("VITRINE_MAX_IMAGE_PIXELS", "1000000"),
                ("VITRINE_IMAGE_WORKERS", "3"),
                ("VITRINE_RAW_EVENT_RETENTION_DAYS", "30"),
                ("VITRINE_PAYMENT_PROVIDER", "test"),
                ("VITRINE_PAYMENT_TIMEOUT_SECONDS", "0.3"),
                ("VITRINE_RATE_LIMITS", "{enabled=false}"),
                ("VITRINE_TRUSTED_PROXIES", r#"["10.0.0.5"]"#),
                ("VITRINE_FEED", "{pool_every=5}"),
                ("VITRINE_WEB_VENDOR_DIR", "/opt/vitrine/vendor"),
            ] {
                jail.set_env(name, value);
            }
            let c = Config::load(None).unwrap();
            assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/vitrine"));
            assert_eq!(
                c.server.public_url.as_deref(),
                Some("https://api.example.com")
            );
            assert_eq!(
                c.server.media_url.as_deref(),
                Some("https://cdn.example.com")
            );
            assert_eq!(c.storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
            assert_eq!(c.storage.s3.bucket.as_deref(), Some("clips"));
            assert_eq!(c.storage.s3.region, "eu-west-3");
            assert_eq!(c.uploads.max_bytes, 1000);
            assert_eq!(c.uploads.expiry, 30 * MINUTE);
            assert_eq!(c.shop.max_live_tags, 7);
            assert_eq!(c.shop.order_expiry, Duration::from_secs(30));
            assert_eq!(c.uploads.max_duration, Duration::from_secs(90));
            assert_eq!(c.uploads.max_unfinished, 3);
            assert_eq!(c.uploads.max_unfinished_bytes, 4000);
            assert_eq!(c.uploads.max_per_day, 5);
            assert_eq!(c.uploads.max_minutes_per_day, 6);
            assert_eq!(c.uploads.min_free_disk_bytes, 7000);
            assert_eq!(c.transcode.time_factor, 2.5);
            assert_eq!(c.uploads.max_long_side, 1920);
            assert_eq!(c.uploads.max_fps, 60.0);
            assert_eq!(c.transcode.worker_concurrency, 2);
            assert_eq!(c.transcode.lease, Duration::from_secs(10));
            assert_eq!(c.transcode.poll_interval, Duration::from_millis(100));
            assert_eq!(c.transcode.ladder, vec![720, 360]);
            assert_eq!(c.transcode.stall_timeout, Duration::from_secs(30));
            assert_eq!(c.transcode.retry_backoff, Duration::from_secs(1));
            assert_eq!(c.auth.session_lifetime, 48 * HOUR);
            assert_eq!(c.auth.session_idle, 90 * MINUTE);
            assert_eq!(
                c.auth.smtp_url.as_ref().map(|u| u.expose_secret()),
                Some("smtp://mail:25")
            );
            assert_eq!(c.auth.mail_from, "Shop <shop@example.com>");
            assert_eq!(c.server.header_read_timeout, Duration::from_millis(2500));
            assert_eq!(c.server.idle_timeout, Duration::from_secs(3));
            assert_eq!(c.server.request_timeout, Duration::from_secs(4));
            assert_eq!(c.server.upload_timeout, Duration::from_secs(5));
            assert_eq!(c.server.max_connections, 50);
            assert_eq!(c.server.max_in_flight, 2);
            assert_eq!(c.shop.max_image_pixels, 1_000_000);
            assert_eq!(c.shop.image_workers, 3);
            assert_eq!(c.storage.raw_event_retention, 30 * DAY);
            assert_eq!(c.shop.payment_timeout, Duration::from_millis(300));
            assert!(!c.server.rate_limits.enabled);
            assert_eq!(c.server.trusted_proxies, vec![IpAddr::from([10, 0, 0, 5])]);
            assert_eq!(c.feed.pool_every, 5);
            assert_eq!(
                c.server.web_vendor_dir,
                Some(PathBuf::from("/opt/vitrine/vendor"))
            );
            // A bucket alone still means S3, as it did before `store` existed.
            assert_eq!(c.storage.store_kind(), StoreKind::S3);

            jail.set_env("VITRINE_ORDER_EXPIRY_MINUTES", "half an hour");
            let err = Config::load(None).unwrap_err();
            assert!(
                format!("{err:#}").contains("VITRINE_ORDER_EXPIRY_MINUTES"),
                "{err:#}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_database_url_variable_outranks_the_prefixed_one() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VITRINE_DATABASE_URL", "postgres://prefixed/vitrine");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.database_url().expose_secret(),
                "postgres://prefixed/vitrine"
            );
            jail.set_env("DATABASE_URL", "postgres://plain/vitrine");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.database_url().expose_secret(),
                "postgres://plain/vitrine"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_file_with_sections_reads_durations_as_people_write_them() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vitrine.toml",
                r#"
                [server]
                request_timeout = "45s"
                upload_timeout = "2h"
                rate_limits = { orders_per_hour = 3 }
                [storage]
                raw_event_retention = "30days"
                [uploads]
                expiry = "6h"
                max_duration = "3m"
                [transcode]
                poll_interval = "250ms"
                lease = "1m 30s"
                [shop]
                order_expiry = "15m"
                payment_timeout = "500ms"
                [auth]
                session_lifetime = "14days"
                session_idle = "1day"
                "#,
            )?;
            let c = load("vitrine.toml");
            assert_eq!(c.server.request_timeout, Duration::from_secs(45));
            assert_eq!(c.server.upload_timeout, 2 * HOUR);
            assert_eq!(c.server.rate_limits.orders_per_hour, 3);
            assert_eq!(c.storage.raw_event_retention, 30 * DAY);
            assert_eq!(c.uploads.expiry, 6 * HOUR);
            assert_eq!(c.uploads.media_limits().max_duration_ms, 180_000);
            assert_eq!(c.transcode.poll_interval, Duration::from_millis(250));
            assert_eq!(c.transcode.lease, Duration::from_secs(90));
            assert_eq!(c.shop.order_expiry, 15 * MINUTE);
            assert_eq!(c.shop.payment_timeout, Duration::from_millis(500));
            assert_eq!(c.auth.session_policy().lifetime_ms, 14 * 86_400_000);
            assert_eq!(c.auth.session_policy().idle_ms, 86_400_000);
            // Untouched settings keep their defaults.
            assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));

            jail.create_file("number.toml", "[shop]\norder_expiry = 30\n")?;
            let err = Config::load(Some(Path::new("number.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("order_expiry"), "{err:#}");
            jail.create_file("flat.toml", "order_expiry_minutes = 30\n")?;
            assert!(Config::load(Some(Path::new("flat.toml"))).is_err());
            jail.create_file("typo.toml", "[server]\nbnid = \"0.0.0.0:80\"\n")?;
            assert!(Config::load(Some(Path::new("typo.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_store_is_chosen_explicitly_or_by_the_bucket() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            assert_eq!(config.storage.store_kind(), StoreKind::Filesystem);
            assert!(matches!(
                config.storage.object_store().unwrap(),
                ObjectStore::Filesystem(root) if root == Path::new("./data/objects")
            ));

            jail.create_file(
                "s3.toml",
                "[storage]\nstore = \"s3\"\n[storage.s3]\nbucket = \"clips\"\npath_style = true\n",
            )?;
            match load("s3.toml").storage.object_store().unwrap() {
                ObjectStore::S3(s3) => {
                    assert_eq!(s3.bucket, "clips");
                    assert!(s3.path_style);
                    assert_eq!(s3.region, "us-east-1");
                }
                other => panic!("expected S3, got {other:?}"),
            }
            jail.create_file("nobucket.toml", "[storage]\nstore = \"s3\"\n")?;
            let err = Config::load(Some(Path::new("nobucket.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("bucket"), "{err:#}");
            jail.create_file("unknown.toml", "[storage]\nstore = \"ftp\"\n")?;
            assert!(Config::load(Some(Path::new("unknown.toml"))).is_err());

            // An explicit filesystem store wins over a bucket left in the environment…
            jail.create_file("fs.toml", "[storage]\nstore = \"filesystem\"\n")?;
            jail.set_env("VITRINE_S3_BUCKET", "clips");
            assert_eq!(load("fs.toml").storage.store_kind(), StoreKind::Filesystem);
            // … and the environment's choice over the file's.
            jail.set_env("VITRINE_STORE", "s3");
            assert_eq!(load("fs.toml").storage.store_kind(), StoreKind::S3);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_readme_example_file_is_a_valid_configuration() {
        let example = readme_toml("[server]");
        figment::Jail::expect_with(|jail| {
            jail.create_file("vitrine.toml", example)?;
            let c = load("vitrine.toml");
            assert_eq!(c.storage.store_kind(), StoreKind::S3);
            assert_eq!(c.shop.order_expiry, 30 * MINUTE);
            assert!(format!("{c:?}").contains("REDACTED"));
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let mut config = Config::default();
        config.storage.database_url = Some("postgres://vitrine:db-hunter2@db/vitrine".into());
        config.auth.smtp_url = Some("smtps://mailer:smtp-hunter2@mail.example.com".into());
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        // Nor in what `Serialized` hands figment (the secrets are skipped, not written out).
        let serialized = serde_json::to_string(&config).unwrap();
        assert!(!serialized.contains("hunter2"), "{serialized}");
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_readme_feed_section_is_a_valid_configuration_and_bad_values_are_refused() {
        let example = readme_toml("[feed]");
        figment::Jail::expect_with(|jail| {
            jail.create_file("feed.toml", example)?;
            let config = load("feed.toml");
            assert_eq!(config.feed.stages.len(), 3);
            assert_eq!(config.feed.stages[1].impressions, 3000);
            assert_eq!(config.feed.weights.not_interested, -8.0);
            assert_eq!(config.feed.sources.top, 200);
            jail.create_file("bad.toml", "[feed]\nauthor_decay = 3.0\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("author_decay"), "{err:#}");
            jail.create_file("typo.toml", "[feed]\nwieghts = 1\n")?;
            assert!(Config::load(Some(Path::new("typo.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn the_embedded_database_lives_in_the_data_dir() {
        let mut config = Config::default();
        config.storage.data_dir = "/tmp/vd".into();
        assert_eq!(
            config.database_url().expose_secret(),
            "sqlite:///tmp/vd/vitrine.db"
        );
    }

    #[test]
    fn the_web_vendor_dir_defaults_to_the_data_dir_not_the_build_checkout() {
        let mut config = Config::default();
        config.storage.data_dir = "/var/lib/vitrine".into();
        assert_eq!(
            config.server.web_vendor_dir(&config.storage.data_dir),
            Path::new("/var/lib/vitrine/vendor")
        );
    }
}
