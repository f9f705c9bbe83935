//! The one typed configuration: defaults, then an optional TOML file (`--config`), then
//! environment variables (`VITRINE_…`, plus `DATABASE_URL`). Every subcommand reads the same
//! struct, so `serve`, `migrate`, `account` and `upload` always agree on where data lives.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Home of the embedded defaults: the SQLite database, the filesystem object store and scratch
    /// space. `VITRINE_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on. `VITRINE_BIND`, default `127.0.0.1:8080`.
    pub bind: String,
    /// `sqlite://…` or `postgres://…`. `DATABASE_URL`, default SQLite in the data dir.
    pub database_url: Option<String>,
    /// Base of the absolute URLs handed to clients. `VITRINE_PUBLIC_URL`, default `http://` +
    /// the bound address.
    pub public_url: Option<String>,
    /// Base URL media objects are served from, e.g. a CDN in front of the bucket.
    /// `VITRINE_MEDIA_URL`, default `PUBLIC_URL/media` (served by the API itself).
    pub media_url: Option<String>,
    /// S3-compatible endpoint (`VITRINE_S3_ENDPOINT`); unset means AWS itself.
    pub s3_endpoint: Option<String>,
    /// Setting a bucket (`VITRINE_S3_BUCKET`) switches the object store from the filesystem to S3.
    /// Credentials come from the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub s3_bucket: Option<String>,
    /// `VITRINE_S3_REGION`, default `us-east-1`.
    pub s3_region: String,
    /// Path-style addressing (`VITRINE_S3_PATH_STYLE`), needed by most self-hosted S3 servers.
    pub s3_path_style: bool,
    /// Largest accepted upload in bytes (`VITRINE_MAX_UPLOAD_BYTES`, default 4 GiB).
    pub max_upload_bytes: u64,
    /// Minutes an unpaid order holds its stock (`VITRINE_ORDER_EXPIRY_MINUTES`, default 30;
    /// fractions allowed).
    pub order_expiry_minutes: f64,
    /// Most live product tags on one video (`VITRINE_MAX_LIVE_TAGS`, default 5).
    pub max_live_tags: u32,
    /// Hours an unfinished resumable upload may be resumed before it is swept away
    /// (`VITRINE_UPLOAD_EXPIRY_HOURS`, default 24; fractions allowed).
    pub upload_expiry_hours: f64,
    /// Longest accepted video in seconds (`VITRINE_MAX_DURATION_SECONDS`, default 600).
    pub max_duration_seconds: u64,
    /// Resumable uploads one creator may have unfinished (`VITRINE_MAX_UNFINISHED_UPLOADS`,
    /// default 10); more get 429 `too_many_unfinished_uploads`.
    pub max_unfinished_uploads: u32,
    /// Bytes those may hold together (`VITRINE_MAX_UNFINISHED_BYTES`, default 20 GiB).
    pub max_unfinished_bytes: u64,
    /// Uploads one creator may start in 24 hours (`VITRINE_MAX_UPLOADS_PER_DAY`, default 200);
    /// more get 429 `daily_upload_limit` with `Retry-After`.
    pub max_uploads_per_day: u32,
    /// Minutes of video one creator may upload in 24 hours
    /// (`VITRINE_MAX_UPLOAD_MINUTES_PER_DAY`, default 600); more get 422 `daily_minutes_limit`.
    pub max_upload_minutes_per_day: u32,
    /// New uploads are refused with 507 `insufficient_storage` before the data directory's
    /// disk has less free space than this (`VITRINE_MIN_FREE_DISK_BYTES`, default 1 GiB).
    pub min_free_disk_bytes: u64,
    /// Wall-clock time a transcode attempt may take per second of `max_duration_seconds`, plus
    /// a minute (`VITRINE_TRANSCODE_TIME_FACTOR`, default 6: an hour for the 10-minute limit);
    /// past it the attempt stops and is retried.
    pub transcode_time_factor: f64,
    /// Largest accepted long side in pixels (`VITRINE_MAX_LONG_SIDE`, default 4096).
    pub max_long_side: u32,
    /// Highest accepted frame rate (`VITRINE_MAX_FPS`, default 120).
    pub max_fps: f64,
    /// Transcode jobs one worker process runs at once (`VITRINE_WORKER_CONCURRENCY`, default 1).
    pub worker_concurrency: usize,
    /// Seconds a job lease lasts without a heartbeat (`VITRINE_LEASE_SECONDS`, default 60).
    pub lease_seconds: u64,
    /// Milliseconds between queue polls of an idle worker (`VITRINE_POLL_INTERVAL_MS`, 500).
    pub poll_interval_ms: u64,
    /// Short sides of the ladder, largest first (`VITRINE_LADDER="[1080,720,480,360,240]"`).
    pub ladder: Vec<u32>,
    /// Seconds without pipeline progress before a transcode counts as stuck
    /// (`VITRINE_STALL_TIMEOUT_SECONDS`, default 60).
    pub stall_timeout_seconds: u64,
    /// Base of the retry backoff in seconds, doubled per attempt (`VITRINE_RETRY_BACKOFF_SECONDS`).
    pub retry_backoff_seconds: u64,
    /// Hours a session lasts from sign-in, however it is used
    /// (`VITRINE_SESSION_LIFETIME_HOURS`, default 720 = 30 days).
    pub session_lifetime_hours: f64,
    /// Hours a session lasts unused (`VITRINE_SESSION_IDLE_HOURS`, default 168 = 7 days).
    pub session_idle_hours: f64,
    /// Where mail to people goes (`VITRINE_SMTP_URL`: `smtp://host:port`, `?tls=required` for
    /// STARTTLS, `smtps://user:pass@host` for TLS). Unset: written as `.eml` files under
    /// `DATA_DIR/mail/`, with the links in the log.
    pub smtp_url: Option<String>,
    /// The sender of that mail (`VITRINE_MAIL_FROM`, default `Vitrine <no-reply@localhost>`).
    pub mail_from: String,
    /// Seconds a client has to send a request's headers, from the moment it connects or its
    /// previous answer went out (`VITRINE_HEADER_READ_TIMEOUT_SECONDS`, default 10).
    pub header_read_timeout_seconds: f64,
    /// Seconds a client may take no byte of an answer before its connection is closed (a
    /// client that stopped reading a download; `VITRINE_IDLE_TIMEOUT_SECONDS`, default 60).
    /// Idle keep-alive connections end with `header_read_timeout`, stalled upload bodies
    /// after 60 s without a byte.
    pub idle_timeout_seconds: f64,
    /// Seconds a request may take to be answered (`VITRINE_REQUEST_TIMEOUT_SECONDS`, default
    /// 30); 503 `timeout` after that.
    pub request_timeout_seconds: f64,
    /// The same for uploads and media, whose bodies are large
    /// (`VITRINE_UPLOAD_TIMEOUT_SECONDS`, default 3600: use resumable uploads for more).
    pub upload_timeout_seconds: f64,
    /// Open connections at most; more are answered 503 and closed
    /// (`VITRINE_MAX_CONNECTIONS`, default 4096, and never more than the open-file limit allows).
    pub max_connections: usize,
    /// Requests being answered at once at most; more are answered 503 `overloaded` with
    /// `Retry-After` at once (`VITRINE_MAX_IN_FLIGHT`, default 512).
    pub max_in_flight: usize,
    /// Largest product picture accepted, in pixels, read from its header before it is decoded
    /// (`VITRINE_MAX_IMAGE_PIXELS`, default 25000000); larger ones get 422 `image_too_large`.
    pub max_image_pixels: u64,
    /// Product pictures processed at once at most (`VITRINE_IMAGE_WORKERS`, default 2); the
    /// next ones wait up to 10 s, then get 503 `overloaded`.
    pub image_workers: usize,
    /// Days raw viewer events, tag impressions and product clicks are kept
    /// (`VITRINE_RAW_EVENT_RETENTION_DAYS`, default 90, at least 15: clicks credit sales for
    /// 14 days); older impressions and clicks are rolled up per day, so analytics keep their
    /// totals.
    pub raw_event_retention_days: u32,
    /// Who takes payments (`VITRINE_PAYMENT_PROVIDER`). Only `test` is built in (the embedded
    /// default): it moves no money, says so at start and in every payment answer
    /// (`"test_mode": true`). A real provider implements `vitrine_shop::payment::PaymentProvider`.
    pub payment_provider: String,
    /// Seconds a call to the payment provider may take (`VITRINE_PAYMENT_TIMEOUT_SECONDS`,
    /// default 10); an order whose answer did not come is settled by asking the provider later.
    pub payment_timeout_seconds: f64,
    /// Per-client request budgets (the `[rate_limits]` section; see
    /// `vitrine_api::rate::RateLimitConfig`).
    pub rate_limits: vitrine_api::rate::RateLimitConfig,
    /// Addresses of the load balancers in front of this process
    /// (`VITRINE_TRUSTED_PROXIES='["10.0.0.5"]'`): from them, the client's address is read from
    /// `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The feed ranker: weights, priors, traffic-pool stages, rules and candidate sources
    /// (the `[feed]` section of the file; see `vitrine_feed::config::RankConfig`).
    pub feed: vitrine_feed::RankConfig,
    /// Where the web pages' vendored npm packages are (`VITRINE_WEB_VENDOR_DIR`, default this
    /// checkout's `web/node_modules`, filled by `npm ci --prefix web`).
    pub web_vendor_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            bind: "127.0.0.1:8080".into(),
            database_url: None,
            public_url: None,
            media_url: None,
            s3_endpoint: None,
            s3_bucket: None,
            s3_region: "us-east-1".into(),
            s3_path_style: false,
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            upload_expiry_hours: 24.0,
            max_live_tags: 5,
            order_expiry_minutes: 30.0,
            max_duration_seconds: 600,
            transcode_time_factor: 6.0,
            max_unfinished_uploads: 10,
            max_unfinished_bytes: 20 << 30,
            max_uploads_per_day: 200,
            max_upload_minutes_per_day: 600,
            min_free_disk_bytes: 1 << 30,
            max_long_side: 4096,
            max_fps: 120.0,
            worker_concurrency: 1,
            lease_seconds: 60,
            poll_interval_ms: 500,
            ladder: vitrine_transcode::ladder::DEFAULT_SHORT_SIDES.to_vec(),
            stall_timeout_seconds: 60,
            retry_backoff_seconds: 5,
            session_lifetime_hours: 720.0,
            session_idle_hours: 168.0,
            smtp_url: None,
            mail_from: "Vitrine <no-reply@localhost>".into(),
            header_read_timeout_seconds: 10.0,
            idle_timeout_seconds: 60.0,
            request_timeout_seconds: 30.0,
            upload_timeout_seconds: 3600.0,
            max_connections: 4096,
            max_in_flight: 512,
            raw_event_retention_days: 90,
            payment_provider: "test".into(),
            payment_timeout_seconds: 10.0,
            max_image_pixels: vitrine_shop::images::DEFAULT_MAX_PIXELS,
            image_workers: 2,
            rate_limits: vitrine_api::rate::RateLimitConfig::default(),
            trusted_proxies: Vec::new(),
            feed: vitrine_feed::RankConfig::default(),
            web_vendor_dir: None,
        }
    }
}

impl Config {
    pub fn web_vendor_dir(&self) -> PathBuf {
        self.web_vendor_dir
            .clone()
            .unwrap_or_else(crate::web::default_vendor_dir)
    }

    /// Defaults ← `file` (if given) ← environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        // Only our own keys: other `VITRINE_…` variables (the client's `VITRINE_TOKEN`, test
        // settings) are not configuration, while a typo in the file is still an error.
        let known = Config::keys();
        figment
            .merge(
                Env::prefixed("VITRINE_")
                    .filter(move |key| known.iter().any(|k| key.as_str().eq_ignore_ascii_case(k))),
            )
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .extract::<Config>()
            .context("reading configuration")
            .and_then(|c| {
                c.feed.validate().map_err(anyhow::Error::msg)?;
                Ok(c)
            })
    }

    fn keys() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| vitrine_core::db::Db::sqlite_url_in(&self.data_dir))
    }

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

    pub fn media_limits(&self) -> vitrine_core::limits::MediaLimits {
        vitrine_core::limits::MediaLimits {
            max_duration_ms: i64::try_from(self.max_duration_seconds.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            max_long_side: self.max_long_side,
            max_fps: self.max_fps,
        }
    }

    pub fn session_policy(&self) -> vitrine_identity::sessions::SessionPolicy {
        let ms = |hours: f64| (hours.max(0.0) * 3_600_000.0) as i64;
        vitrine_identity::sessions::SessionPolicy {
            lifetime_ms: ms(self.session_lifetime_hours),
            idle_ms: ms(self.session_idle_hours),
        }
    }

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
            Duration::from_secs_f64(self.payment_timeout_seconds.clamp(0.01, 600.0)),
        ))
    }

    /// The per-creator upload quotas and the disk's floor.
    pub fn upload_quotas(&self) -> vitrine_core::limits::UploadQuotas {
        vitrine_core::limits::UploadQuotas {
            max_unfinished_uploads: i64::from(self.max_unfinished_uploads),
            max_unfinished_bytes: self.max_unfinished_bytes,
            max_uploads_per_day: i64::from(self.max_uploads_per_day),
            max_upload_minutes_per_day: i64::from(self.max_upload_minutes_per_day),
            min_free_disk_bytes: self.min_free_disk_bytes,
        }
    }

    /// The server's connection and request limits.
    pub fn server_limits(&self) -> crate::server::ServerLimits {
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.001, 1e9));
        crate::server::ServerLimits {
            header_read_timeout: secs(self.header_read_timeout_seconds),
            idle_timeout: secs(self.idle_timeout_seconds),
            max_connections: self.max_connections.max(1),
        }
    }

    /// What each request is admitted under.
    pub fn admission(&self) -> crate::admission::Policy {
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.001, 1e9));
        crate::admission::Policy {
            request_timeout: secs(self.request_timeout_seconds),
            upload_timeout: secs(self.upload_timeout_seconds),
            max_in_flight: self.max_in_flight.max(1),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn environment_overrides_the_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vitrine.toml",
                r#"
                data_dir = "/srv/vitrine"
                bind = "0.0.0.0:9000"
                ladder = [1080, 720, 360]
                "#,
            )?;
            jail.set_env("VITRINE_BIND", "127.0.0.1:7000");
            jail.set_env("DATABASE_URL", "postgres://db/vitrine");
            jail.set_env("VITRINE_S3_PATH_STYLE", "true");
            jail.set_env("VITRINE_TOKEN", "not configuration");
            let config = Config::load(Some(std::path::Path::new("vitrine.toml"))).unwrap();
            assert_eq!(config.data_dir, PathBuf::from("/srv/vitrine"));
            assert_eq!(config.bind, "127.0.0.1:7000");
            assert_eq!(config.ladder, vec![1080, 720, 360]);
            assert_eq!(config.database_url(), "postgres://db/vitrine");
            assert!(config.s3_path_style);
            assert_eq!(config.s3_region, "us-east-1");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_readme_feed_section_is_a_valid_configuration_and_bad_values_are_refused() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\n[feed]")
            .expect("README has a [feed] example")
            + 8;
        let example = &readme[start..start + readme[start..].find("```").unwrap()];
        figment::Jail::expect_with(|jail| {
            jail.create_file("feed.toml", example)?;
            let config = Config::load(Some(std::path::Path::new("feed.toml"))).unwrap();
            assert_eq!(config.feed.stages.len(), 3);
            assert_eq!(config.feed.stages[1].impressions, 3000);
            assert_eq!(config.feed.weights.not_interested, -8.0);
            assert_eq!(config.feed.sources.top, 200);
            jail.create_file("bad.toml", "[feed]\nauthor_decay = 3.0\n")?;
            let err = Config::load(Some(std::path::Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("author_decay"), "{err:#}");
            jail.create_file("typo.toml", "[feed]\nwieghts = 1\n")?;
            assert!(Config::load(Some(std::path::Path::new("typo.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn the_embedded_database_lives_in_the_data_dir() {
        let config = Config {
            data_dir: "/tmp/vd".into(),
            ..Config::default()
        };
        assert_eq!(config.database_url(), "sqlite:///tmp/vd/vitrine.db");
    }
}
