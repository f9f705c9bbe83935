//! The ranker handle every API process holds: configuration, the current catalog, and the
//! refresh loop that keeps the catalog in step with the shared database.
//!
//! Refresh cadence: changed clips every 500 ms (so another machine's events reach this
//! machine's ranking within a second), what clips sell and sold every 10 s, a count of feedable
//! clips every minute (a full reload, dropping deleted clips, when it differs; and every ten
//! minutes regardless), co-engagement neighbours every 5 minutes. Catalog
//! builds run on the blocking pool, never on the async runtime.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use tokio_util::sync::CancellationToken;
use vitrine_core::{db::Db, ids::AccountId, time::now_ms};

use crate::{
    catalog::{self, Catalog, Neighbours},
    config::RankConfig,
    model::Clip,
    store::{self, Sales},
};

const TICK: Duration = Duration::from_millis(500);
/// Rebuilding the catalog scores every clip (≈ 0.2 s of CPU at 100,000 clips): under a steady
/// stream of events, at most once a second.
const MIN_REBUILD_INTERVAL_MS: i64 = 1_000;
/// Re-read rows changed this long before the previous pass: transactions that were still
/// open then, and clocks of other machines a little behind ours.
const OVERLAP_MS: i64 = 5_000;
const HISTORY_DAYS: i64 = 30;

#[derive(Clone)]
pub struct Ranker(Arc<Inner>);

struct Inner {
    cfg: RankConfig,
    admin_token: Option<String>,
    catalog: RwLock<Arc<Catalog>>,
    working: tokio::sync::Mutex<Working>,
    /// Accounts known to exist (accounts are never deleted): `?viewer=` is checked once.
    known_viewers: quick_cache::sync::Cache<String, ()>,
}

#[derive(Default)]
struct Working {
    clips: HashMap<String, Arc<Clip>>,
    sales: Sales,
    neighbours: Arc<Neighbours>,
    /// Start of the last pass that read changes.
    since: Option<i64>,
    /// When the catalog was last rebuilt, and whether changes wait for the next rebuild.
    built_at: i64,
    pending: bool,
}

/// What a refresh pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Re-read every clip.
    pub full: bool,
    /// Count the feedable clips, and re-read every clip if the count shows that some were
    /// deleted (the incremental pass sees changed rows, not removed ones).
    pub verify: bool,
    pub sales: bool,
    pub neighbours: bool,
}

impl Refresh {
    pub const ALL: Refresh = Refresh {
        full: true,
        verify: true,
        sales: true,
        neighbours: true,
    };
}

impl Ranker {
    pub fn new(cfg: RankConfig, admin_token: Option<String>) -> Ranker {
        Ranker(Arc::new(Inner {
            cfg,
            admin_token: admin_token.filter(|t| !t.is_empty()),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            working: tokio::sync::Mutex::new(Working::default()),
            known_viewers: quick_cache::sync::Cache::new(200_000),
        }))
    }

    /// Whether account `id` exists (remembered once seen: accounts are never deleted).
    pub async fn viewer_exists(&self, db: &Db, id: &AccountId) -> sqlx::Result<bool> {
        if self.0.known_viewers.get(id.as_str()).is_some() {
            return Ok(true);
        }
        let exists = vitrine_core::accounts::exists(db, id).await?;
        if exists {
            self.0.known_viewers.insert(id.as_str().to_owned(), ());
        }
        Ok(exists)
    }

    pub fn config(&self) -> &RankConfig {
        &self.0.cfg
    }

    /// The current catalog (cheap: a shared pointer).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.0
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `token` is the operators' admin token.
    pub fn is_admin(&self, token: &str) -> bool {
        self.0
            .admin_token
            .as_deref()
            .is_some_and(|admin| constant_time_eq(admin.as_bytes(), token.as_bytes()))
    }

    /// One refresh pass; rebuilds the catalog if anything changed.
    pub async fn refresh(&self, db: &Db, what: Refresh) -> anyhow::Result<()> {
        let mut w = self.0.working.lock().await;
        let started = now_ms();
        let mut changed = false;
        // A full read costs the database and this process a second or more at 100,000 clips:
        // only when the count says clips went missing, and every ten minutes to be safe.
        let full = what.full
            || (what.verify
                && w.since.is_some()
                && store::feedable_count(db).await? != w.clips.len() as i64);
        match (full, w.since) {
            (true, _) | (false, None) => {
                let fresh: HashMap<String, Arc<Clip>> = store::all_clips(db)
                    .await?
                    .into_iter()
                    .map(|c| (c.id.clone(), Arc::new(c)))
                    .collect();
                // A full reload mostly finds what the incremental passes already applied.
                changed = w.since.is_none()
                    || fresh.len() != w.clips.len()
                    || fresh
                        .iter()
                        .any(|(id, c)| w.clips.get(id).is_none_or(|old| !same(old, c)));
                w.clips = fresh;
            }
            (false, Some(since)) => {
                for (clip, feedable) in store::changed_clips(db, since - OVERLAP_MS).await? {
                    if !feedable {
                        changed |= w.clips.remove(&clip.id).is_some();
                    } else if w.clips.get(&clip.id).is_none_or(|old| !same(old, &clip)) {
                        w.clips.insert(clip.id.clone(), Arc::new(clip));
                        changed = true;
                    }
                }
            }
        }
        w.since = Some(started);
        if what.sales || what.full {
            let sales = store::sales(db).await?;
            if sales != w.sales {
                w.sales = sales;
                changed = true;
            }
        }
        if what.neighbours {
            let histories =
                store::histories(db, started - HISTORY_DAYS * 24 * 3_600_000, 30).await?;
            w.neighbours = Arc::new(
                tokio::task::spawn_blocking(move || catalog::neighbours(&histories, 20)).await?,
            );
            changed = true;
        }
        changed |= w.pending;
        if !changed {
            return Ok(());
        }
        if !full && !what.sales && started - w.built_at < MIN_REBUILD_INTERVAL_MS {
            w.pending = true;
            return Ok(());
        }
        w.pending = false;
        w.built_at = started;
        let clips: Vec<Arc<Clip>> = w
            .clips
            .values()
            .map(|c| {
                let selling = w.sales.selling.get(&c.id);
                let sold = w.sales.sales.get(&c.id);
                if selling.is_none() && sold.is_none() {
                    return c.clone();
                }
                let mut c = (**c).clone();
                c.commerce = selling.cloned();
                if let Some(&(units, gmv)) = sold {
                    c.counts.purchases = units;
                    c.counts.gmv_minor = gmv;
                }
                Arc::new(c)
            })
            .collect();
        let neighbours = w.neighbours.clone();
        drop(w);
        let cfg = self.0.cfg.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut clips = clips;
            // A stable order, so that equal scores rank the same on every machine.
            clips.sort_by(|a, b| a.id.cmp(&b.id));
            Catalog::build(clips, neighbours, &cfg, now_ms())
        })
        .await?;
        *self.0.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(built);
        Ok(())
    }

    /// Keeps the catalog fresh until `shutdown`.
    pub async fn run(self, db: Db, shutdown: CancellationToken) {
        let mut tick: u64 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            tick += 1;
            let what = Refresh {
                full: tick.is_multiple_of(1200),
                verify: tick.is_multiple_of(120),
                sales: tick.is_multiple_of(20),
                neighbours: tick.is_multiple_of(600),
            };
            if let Err(e) = self.refresh(&db, what).await {
                tracing::warn!(error = ?e, "feed catalog refresh failed; serving the previous one");
            }
        }
    }
}

/// Whether a re-read clip differs from the one held.
fn same(a: &Clip, b: &Clip) -> bool {
    a.counts == b.counts
        && a.stage == b.stage
        && a.pool == b.pool
        && a.trend == b.trend
        && a.trend_epoch == b.trend_epoch
        && a.ready_at == b.ready_at
        && a.duration_ms == b.duration_ms
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
