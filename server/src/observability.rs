//! Logs (tracing) and Prometheus metrics.
//!
//! Metric names: `vitrine_http_requests_total{method,route,status}`,
//! `vitrine_http_request_seconds`, `vitrine_upload_bytes_total`, `vitrine_queue_depth`,
//! `vitrine_transcode_job_seconds{outcome}`, `vitrine_transcode_failures_total{reason}`.

use std::{
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use vitrine_api::AppState;

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,aws=warn,hyper=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The process-wide recorder (installed once, shared by every `Application` in the process).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("installing the Prometheus recorder")
    })
}

/// How stale the reported queue depth may be.
pub const DEPTH_TTL: Duration = Duration::from_secs(5);

pub async fn track_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("vitrine_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    metrics::histogram!("vitrine_http_request_seconds").record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus text exposition. The queue depth is read from the database (so every process
/// reports the shared queue) at most once per [`DEPTH_TTL`], however often scrapers ask.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    static READ_AT: Mutex<Option<Instant>> = Mutex::new(None);
    let due = {
        let mut read_at = READ_AT.lock().unwrap_or_else(|e| e.into_inner());
        let due = read_at.is_none_or(|at| at.elapsed() >= DEPTH_TTL);
        if due {
            *read_at = Some(Instant::now());
        }
        due
    };
    if due {
        match vitrine_transcode::queue::depth(&state.db).await {
            Ok(depth) => metrics::gauge!("vitrine_queue_depth").set(depth as f64),
            Err(e) => tracing::warn!(error = %e, "could not read the queue depth"),
        }
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(state.db.pool()).await {
        Ok(_) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            )
                .into_response()
        }
    }
}
