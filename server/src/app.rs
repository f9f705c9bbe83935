//! Wiring: configuration → database, object store, HTTP routers and the transcode worker.
//!
//! `Application::build` binds the listener (port 0 works: tests read the real port back), so a
//! test runs the very same wiring as `vitrine serve`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{middleware, routing::get, Json, Router};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    state::{Limits, Urls},
    ApiError, AppState,
};
use vitrine_assets::{FsStore, S3Store, Store};
use vitrine_core::Db;
use vitrine_transcode::worker::{self, WorkerConfig};

use crate::{
    admission::{self, Admission},
    config::{Config, ObjectStore},
    identity, media, observability,
    server::{self, ServerLimits},
    web,
};

/// Which parts of the system this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API and a transcode worker in one process (the embedded default).
    All,
    /// Only the HTTP API.
    Api,
    /// Only a transcode worker (it still serves `/healthz` and `/metrics`).
    Worker,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitrine API",
        description = "Creator video commerce: upload, transcode, shop, feed. Callers sign in with a session token (`POST /v1/auth/signup`, `/login` or `/anonymous`: `Authorization: Bearer vt_…`, or the pages' `vitrine_session` cookie) or an API key (`Authorization: Bearer vk_live_…`) limited to the scopes each operation lists under `api_key`. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    // Not referenced by an operation (a batch's items are checked one by one), still documented.
    components(schemas(vitrine_feed::events::EventInput)),
    // The resumable upload protocol's routes are served by their own router (tus headers, CORS);
    // documented here.
    paths(
        vitrine_ingest::tus::create_upload,
        vitrine_ingest::tus::upload_status,
        vitrine_ingest::tus::append,
        vitrine_ingest::tus::terminate,
        vitrine_ingest::tus::create_direct_upload_video,
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vt_… session token")
                    .description(Some("A session from /v1/auth/signup, /login or /anonymous: every scope its account has. Ends on logout, after 30 days, or after 7 idle days."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vk_live_… API key")
                    .description(Some("An API key from POST /v1/api-keys: only the scopes listed with each operation (403 insufficient_scope otherwise)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                vitrine_api::extract::SESSION_COOKIE,
                "The web pages' session (HttpOnly; SameSite=Lax). Requests that change something must come from the site's own pages (Origin checked).",
            ))),
        );
    }
}

pub struct Application {
    listener: TcpListener,
    /// How long raw events, impressions and clicks are kept.
    retention: Duration,
    payments: vitrine_shop::payment::Payments,
    router: Router,
    state: AppState,
    ranker: vitrine_feed::Ranker,
    role: Role,
    worker: WorkerConfig,
    server: ServerLimits,
}

impl Application {
    pub async fn build(config: &Config, role: Role) -> anyhow::Result<Application> {
        observability::prometheus();
        let state_parts = connect(config).await?;
        let listener = TcpListener::bind(config.bind_addr()?)
            .await
            .with_context(|| format!("binding {}", config.server.bind))?;
        let bound = listener.local_addr()?;
        let public = config.public_url_for(bound);
        let media = config
            .server
            .media_url
            .clone()
            .unwrap_or_else(|| format!("{public}/media"));
        let state = AppState {
            db: state_parts.0,
            store: state_parts.1,
            urls: Arc::new(Urls { public, media }),
            limits: Arc::new(Limits {
                max_upload_bytes: config.uploads.max_bytes,
                spool_dir: config.storage.data_dir.join("spool"),
                max_live_tags: i64::from(config.shop.max_live_tags),
                order_expiry: config.shop.order_expiry,
                upload_expiry: config.uploads.expiry,
                media: config.uploads.media_limits(),
                quotas: config.uploads.quotas(),
                max_image_pixels: config.shop.max_image_pixels.max(1),
                image_work: Arc::new(tokio::sync::Semaphore::new(
                    config.shop.image_workers.max(1),
                )),
                uploads_in_flight: Arc::default(),
            }),
            sessions: config.auth.session_policy(),
            callers: Arc::default(),
            mail: Arc::new(config.auth.mailer(&config.storage.data_dir)?),
            rate: Arc::new(vitrine_api::rate::RateLimits::new(
                config.server.rate_limits.clone(),
            )),
        };
        if !config.server.rate_limits.enabled {
            tracing::warn!(
                "rate limits are off (server.rate_limits.enabled = false): benchmarks only"
            );
        }
        let ranker = vitrine_feed::Ranker::new(config.feed.clone());
        if role != Role::Worker {
            // A catalog that cannot load now must not keep the API from starting: the refresh
            // loop tries again, and the failure is logged and counted.
            if let Err(e) = ranker
                .refresh(&state.db, vitrine_feed::ranker::Refresh::ALL)
                .await
            {
                metrics::counter!("vitrine_catalog_refresh_failures_total").increment(1);
                tracing::error!(error = ?e, "loading the feed catalog failed; serving without it until the next refresh");
            }
        }
        let payments = config.shop.payments()?;
        if role != Role::Worker && payments.test_mode() {
            tracing::warn!(
                provider = payments.name(),
                "payments: the test provider — no money moves (shop.payment_provider in the configuration)"
            );
        }
        let vendor_dir = config.server.web_vendor_dir(&config.storage.data_dir);
        let router = router(&state, role, &ranker, &payments, &vendor_dir).layer(
            middleware::from_fn_with_state(
                Admission::new(state.clone(), config.server.admission()),
                admission::admit,
            ),
        );
        Ok(Application {
            payments,
            retention: config.storage.raw_event_retention(),
            listener,
            router,
            state,
            ranker,
            role,
            worker: config
                .transcode
                .worker(&config.uploads, &config.storage.data_dir),
            server: config.server.limits(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The payment provider the checkout routes and the sweep use.
    pub fn payments(&self) -> &vitrine_shop::payment::Payments {
        &self.payments
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The feed ranker (tests refresh its catalog instead of waiting for the loop).
    pub fn ranker(&self) -> &vitrine_feed::Ranker {
        &self.ranker
    }

    /// Serves until `shutdown` is cancelled: stops accepting, finishes in-flight requests, and
    /// hands running transcode jobs back to the queue.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), role = ?self.role, public = %self.state.urls.public, "vitrine serving");
        // What this process caches (feed items, callers) follows other processes' writes.
        tokio::spawn(vitrine_core::changes::watch(
            self.state.db.clone(),
            shutdown.clone(),
        ));
        let worker = match self.role {
            Role::All | Role::Worker => Some(tokio::spawn(worker::run(
                self.state.db.clone(),
                self.state.store.clone(),
                self.worker.clone(),
                shutdown.clone(),
            ))),
            Role::Api => None,
        };
        let sweep = match self.role {
            Role::All | Role::Api => {
                // Often enough that an expired upload's space comes back within a quarter of
                // its lifetime, at most once a second, at least once a minute.
                let interval = (self.state.limits.upload_expiry / 4)
                    .clamp(Duration::from_secs(1), Duration::from_secs(60));
                let orders = (self.state.limits.order_expiry / 4)
                    .clamp(Duration::from_secs(1), Duration::from_secs(60));
                tokio::spawn(vitrine_shop::sweep::run(
                    self.state.db.clone(),
                    self.payments.clone(),
                    orders,
                    shutdown.clone(),
                ));
                tokio::spawn(
                    self.ranker
                        .clone()
                        .run(self.state.db.clone(), shutdown.clone()),
                );
                tokio::spawn(maintain_database(self.state.db.clone(), shutdown.clone()));
                tokio::spawn(prune_raw_events(
                    self.state.db.clone(),
                    self.retention,
                    shutdown.clone(),
                ));
                Some(tokio::spawn(vitrine_ingest::sweep::run(
                    self.state.clone(),
                    interval,
                    shutdown.clone(),
                )))
            }
            Role::Worker => None,
        };
        tokio::spawn(forget_idle_clients(
            self.state.rate.clone(),
            shutdown.clone(),
        ));
        let server = server::serve(self.listener, self.router, self.server, shutdown.clone());
        // Either half ending ends the process: an API whose worker died would accept uploads
        // nobody transcodes, and a worker process whose loop died would still report healthy.
        let result = match worker {
            None => server.await.context("HTTP server"),
            Some(mut worker) => {
                tokio::pin!(server);
                tokio::select! {
                    served = &mut server => {
                        shutdown.cancel();
                        let stopped = worker.await.context("worker task").and_then(|r| r);
                        served.context("HTTP server").and(stopped)
                    }
                    stopped = &mut worker => {
                        let stopped = stopped.context("worker task").and_then(|r| r);
                        if let Err(e) = &stopped {
                            tracing::error!(error = ?e, "the transcode worker stopped; shutting down");
                        }
                        // Still a graceful stop: in-flight requests finish.
                        shutdown.cancel();
                        let served = server.await.context("HTTP server");
                        served.and(stopped)
                    }
                }
            }
        };
        if let Some(sweep) = sweep {
            shutdown.cancel();
            let _ = sweep.await;
        }
        self.state.db.close().await;
        result
    }
}

/// Rate-limit buckets of clients that went quiet are dropped once a minute.
async fn forget_idle_clients(
    rate: Arc<vitrine_api::rate::RateLimits>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => rate.forget_idle(),
        }
    }
}

/// Background database upkeep: the write-ahead log is copied back every second (off the write
/// path), and the planner statistics are re-read every ten minutes (tables grow from empty).
async fn maintain_database(db: Db, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut analysed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = db.checkpoint().await {
            tracing::warn!(error = ?e, "checkpointing the write-ahead log failed");
        }
        if analysed.elapsed() >= Duration::from_secs(600) {
            analysed = tokio::time::Instant::now();
            if let Err(e) = db.optimize().await {
                tracing::warn!(error = ?e, "updating planner statistics failed");
            }
        }
    }
}

/// Once an hour: raw events past `retention` go, older impressions and clicks are rolled up.
async fn prune_raw_events(db: Db, retention: Duration, shutdown: CancellationToken) {
    loop {
        let before =
            vitrine_core::time::now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        match vitrine_feed::events::prune(&db, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "old raw events pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning raw events failed; will retry"),
        }
        match vitrine_shop::attribution::roll_up(&db, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "old impressions and clicks rolled up"),
            Err(e) => tracing::warn!(error = %e, "rolling up impressions and clicks failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// Database (migrated) and object store for `config`.
pub async fn connect(config: &Config) -> anyhow::Result<(Db, Store)> {
    let storage = &config.storage;
    tokio::fs::create_dir_all(&storage.data_dir)
        .await
        .with_context(|| format!("creating data dir {}", storage.data_dir.display()))?;
    let db = Db::connect(storage.database_url().expose_secret()).await?;
    db.migrate().await?;
    vitrine_identity::upgrade::upgrade(&db)
        .await
        .context("upgrading accounts")?;
    db.optimize().await.context("updating planner statistics")?;
    let store = match storage.object_store()? {
        ObjectStore::S3(s3) => Store::S3(S3Store::connect(&s3).await?),
        ObjectStore::Filesystem(root) => Store::Fs(FsStore::new(root)?),
    };
    Ok((db, store))
}

fn router(
    state: &AppState,
    role: Role,
    ranker: &vitrine_feed::Ranker,
    payments: &vitrine_shop::payment::Payments,
    vendor_dir: &std::path::Path,
) -> Router {
    let ops = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(observability::healthz))
        .routes(routes!(observability::metrics));
    let api = match role {
        Role::Worker => ops,
        Role::All | Role::Api => ops
            .merge(identity::router())
            .merge(vitrine_ingest::router(state))
            .merge(crate::videos::router(
                state.clone(),
                ranker.config().clone(),
            ))
            .merge(vitrine_shop::router())
            .merge(vitrine_shop::http::checkout::router(
                state.clone(),
                payments.clone(),
            ))
            .merge(vitrine_feed::router(state.clone(), ranker.clone())),
    };
    let (mut router, mut openapi) = api.split_for_parts();
    crate::openapi::add_edge_responses(&mut openapi);
    if role != Role::Worker {
        let openapi = Arc::new(openapi);
        router = router
            .route(
                "/openapi.json",
                get(move || async move { Json(openapi.as_ref().clone()) }),
            )
            .merge(media::router(state))
            .merge(web::router(vendor_dir, &state.urls));
    }
    router
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(observability::track_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone())
}
