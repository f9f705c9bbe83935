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
