//! The environment's flat names (`VITRINE_ORDER_EXPIRY_MINUTES=0.5`) mapped onto the
//! configuration's sections (`shop.order_expiry = "30s"`).
//!
//! The names predate the sections, and deployments, scripts and tests are written against
//! them, so each keeps its exact name and unit: a number in a `…_MINUTES` variable is still
//! minutes. Only the names in [`FLAT`] are read: other `VITRINE_…` variables (the client's
//! `VITRINE_TOKEN`, test settings) are not configuration, while a typo in the file is still an
//! error.

use std::{collections::HashMap, time::Duration};

use figment::{
    util::nest,
    value::{Dict, Map, Value},
    Error, Metadata, Profile, Provider,
};

/// How a variable's text reads.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// As figment reads any variable: `true`, `42`, `[720, 360]`, `{enabled=false}`, text.
    Plain,
    /// A number (fractions allowed) of this span each; it becomes a `Duration`.
    Span(&'static str, Duration),
}

const MS: Unit = Unit::Span("milliseconds", Duration::from_millis(1));
const SECONDS: Unit = Unit::Span("seconds", Duration::from_secs(1));
const MINUTES: Unit = Unit::Span("minutes", Duration::from_secs(60));
const HOURS: Unit = Unit::Span("hours", Duration::from_secs(3600));
const DAYS: Unit = Unit::Span("days", Duration::from_secs(86_400));
use Unit::Plain;

/// Every variable read: its name, its place in the tree, its unit. Later rows win over earlier
/// ones for the same place (`DATABASE_URL` over `VITRINE_DATABASE_URL`).
#[rustfmt::skip]
const FLAT: &[(&str, &str, Unit)] = &[
    ("VITRINE_BIND",                        "server.bind",                  Plain),
    ("VITRINE_PUBLIC_URL",                  "server.public_url",            Plain),
    ("VITRINE_MEDIA_URL",                   "server.media_url",             Plain),
    ("VITRINE_HEADER_READ_TIMEOUT_SECONDS", "server.header_read_timeout",   SECONDS),
    ("VITRINE_IDLE_TIMEOUT_SECONDS",        "server.idle_timeout",          SECONDS),
    ("VITRINE_REQUEST_TIMEOUT_SECONDS",     "server.request_timeout",       SECONDS),
    ("VITRINE_UPLOAD_TIMEOUT_SECONDS",      "server.upload_timeout",        SECONDS),
    ("VITRINE_MAX_CONNECTIONS",             "server.max_connections",       Plain),
    ("VITRINE_MAX_IN_FLIGHT",               "server.max_in_flight",         Plain),
    ("VITRINE_TRUSTED_PROXIES",             "server.trusted_proxies",       Plain),
    ("VITRINE_RATE_LIMITS",                 "server.rate_limits",           Plain),
    ("VITRINE_WEB_VENDOR_DIR",              "server.web_vendor_dir",        Plain),
    ("VITRINE_DATA_DIR",                    "storage.data_dir",             Plain),
    ("VITRINE_DATABASE_URL",                "storage.database_url",         Plain),
    ("DATABASE_URL",                        "storage.database_url",         Plain),
    ("VITRINE_STORE",                       "storage.store",                Plain),
    ("VITRINE_S3_ENDPOINT",                 "storage.s3.endpoint",          Plain),
    ("VITRINE_S3_BUCKET",                   "storage.s3.bucket",            Plain),
    ("VITRINE_S3_REGION",                   "storage.s3.region",            Plain),
    ("VITRINE_S3_PATH_STYLE",               "storage.s3.path_style",        Plain),
    ("VITRINE_RAW_EVENT_RETENTION_DAYS",    "storage.raw_event_retention",  DAYS),
    ("VITRINE_MAX_UPLOAD_BYTES",            "uploads.max_bytes",            Plain),
    ("VITRINE_UPLOAD_EXPIRY_HOURS",         "uploads.expiry",               HOURS),
    ("VITRINE_MAX_DURATION_SECONDS",        "uploads.max_duration",         SECONDS),
    ("VITRINE_MAX_LONG_SIDE",               "uploads.max_long_side",        Plain),
    ("VITRINE_MAX_FPS",                     "uploads.max_fps",              Plain),
    ("VITRINE_MAX_UNFINISHED_UPLOADS",      "uploads.max_unfinished",       Plain),
    ("VITRINE_MAX_UNFINISHED_BYTES",        "uploads.max_unfinished_bytes", Plain),
    ("VITRINE_MAX_UPLOADS_PER_DAY",         "uploads.max_per_day",          Plain),
    ("VITRINE_MAX_UPLOAD_MINUTES_PER_DAY",  "uploads.max_minutes_per_day",  Plain),
    ("VITRINE_MIN_FREE_DISK_BYTES",         "uploads.min_free_disk_bytes",  Plain),
    ("VITRINE_LADDER",                      "transcode.ladder",             Plain),
    ("VITRINE_WORKER_CONCURRENCY",          "transcode.worker_concurrency", Plain),
    ("VITRINE_LEASE_SECONDS",               "transcode.lease",              SECONDS),
    ("VITRINE_POLL_INTERVAL_MS",            "transcode.poll_interval",      MS),
    ("VITRINE_STALL_TIMEOUT_SECONDS",       "transcode.stall_timeout",      SECONDS),
    ("VITRINE_RETRY_BACKOFF_SECONDS",       "transcode.retry_backoff",      SECONDS),
    ("VITRINE_TRANSCODE_TIME_FACTOR",       "transcode.time_factor",        Plain),
    ("VITRINE_FEED",                        "feed",                         Plain),
    ("VITRINE_ORDER_EXPIRY_MINUTES",        "shop.order_expiry",            MINUTES),
    ("VITRINE_MAX_LIVE_TAGS",               "shop.max_live_tags",           Plain),
    ("VITRINE_PAYMENT_PROVIDER",            "shop.payment_provider",        Plain),
    ("VITRINE_PAYMENT_TIMEOUT_SECONDS",     "shop.payment_timeout",         SECONDS),
    ("VITRINE_MAX_IMAGE_PIXELS",            "shop.max_image_pixels",        Plain),
    ("VITRINE_IMAGE_WORKERS",               "shop.image_workers",           Plain),
    ("VITRINE_SESSION_LIFETIME_HOURS",      "auth.session_lifetime",        HOURS),
    ("VITRINE_SESSION_IDLE_HOURS",          "auth.session_idle",            HOURS),
    ("VITRINE_SMTP_URL",                    "auth.smtp_url",                Plain),
    ("VITRINE_MAIL_FROM",                   "auth.mail_from",               Plain),
];

/// The variables of [`FLAT`] that are set, as a figment provider.
pub(super) struct FlatEnv;

impl Provider for FlatEnv {
    fn metadata(&self) -> Metadata {
        // Errors name the variable that was set, not the place it maps to.
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            let path = keys.join(".");
            FLAT.iter()
                .rev()
                .find(|(_, place, _)| *place == path)
                .map_or_else(
                    || path.to_ascii_uppercase(),
                    |(var, _, _)| (*var).to_owned(),
                )
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        // Names are matched without regard to case, as figment's own `Env` does.
        let set: HashMap<String, String> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().trim().to_ascii_uppercase(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let mut dict = Dict::new();
        for &(var, place, unit) in FLAT {
            if let Some(text) = set.get(var) {
                let value = read(var, unit, text).map_err(Error::from)?;
                let Value::Dict(_, nested) = nest(place, value) else {
                    unreachable!("a non-empty path nests into a dict");
                };
                merge(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// `text`, the value of `var`, as the configuration reads it.
fn read(var: &str, unit: Unit, text: &str) -> Result<Value, String> {
    match unit {
        Plain => Ok(text.parse().expect("infallible")),
        Unit::Span(name, span) => {
            let n: f64 = text
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("{var}: {text:?} is not a number of {name}"))?;
            // Negative spans meant zero before (they were clamped where used); keep that.
            let d = Duration::try_from_secs_f64(span.as_secs_f64() * n.max(0.0))
                .map_err(|_| format!("{var}: {text:?} is too large"))?;
            Ok(humantime_serde::re::humantime::format_duration(d)
                .to_string()
                .into())
        }
    }
}

/// Deep merge: `b`'s leaves over `a`'s.
fn merge(a: &mut Dict, b: Dict) {
    for (key, value) in b {
        match (a.get_mut(&key), value) {
            (Some(Value::Dict(_, into)), Value::Dict(_, from)) => merge(into, from),
            (_, value) => {
                a.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_place_in_the_tree_has_one_name_except_the_database_url() {
        let mut places: Vec<_> = FLAT.iter().map(|(_, place, _)| *place).collect();
        places.sort_unstable();
        let before = places.len();
        places.dedup();
        assert_eq!(
            before - places.len(),
            1,
            "only storage.database_url has two names"
        );
    }

    #[test]
    fn a_number_in_a_unit_becomes_a_duration_text() {
        let text = |unit, s| match read("VITRINE_X", unit, s).unwrap() {
            Value::String(_, s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(text(MINUTES, "0.5"), "30s");
        assert_eq!(text(MS, "100"), "100ms");
        assert_eq!(text(HOURS, "24"), "1day");
        assert_eq!(text(SECONDS, "-3"), "0s");
        assert!(read("VITRINE_X", SECONDS, "ten").is_err());
        assert!(read("VITRINE_X", DAYS, "1e300").is_err());
    }
}
