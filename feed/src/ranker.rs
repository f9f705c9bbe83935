//! The ranker handle every API process holds: configuration, the current catalog, viewers'
//! states between their pages, and the refresh loop that keeps both in step with the shared
//! database.
//!
//! A viewer's state (history, affinities, follows, mutes) is read once and kept while they
//! page through the feed: this process drops its copy when it applies their events, and every
//! tick drops the copies that other processes' event batches made stale
//! (`feed_viewer_changes`), so a new event still shows on the viewer's next page within a
//! second, wherever it was posted. A copy is never older than `VIEWER_TTL_MS`.
//!
//! Refresh cadence: queued clip counts folded every 2 s (`store::fold_counts`), changed clips
//! re-read every 500 ms and rebuilt into the catalog at most every 2 s under a steady stream of
//! events (so any machine's events reach every machine's ranking within about 4.5 s), what
//! clips sell and sold every 10 s, a count of feedable clips every minute (a full reload,
//! dropping deleted clips, when it differs; and every ten minutes regardless), co-engagement
//! neighbours every 5 minutes. Catalog
//! builds run on the blocking pool, never on the async runtime.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use tokio_util::sync::CancellationToken;
use vitrine_core::{db::Db, ids::AccountId, time::now_ms};

use crate::{
    catalog::{self, Catalog, Neighbours, ViewerState},
    config::RankConfig,
    model::Clip,
    showcase::Showcase,
    store::{self, Sales},
};

const TICK: Duration = Duration::from_millis(500);
/// Rebuilding the catalog scores every clip (≈ 0.2 s of CPU at 100,000 clips): under a steady
/// stream of events, at most every 2 s (a tenth of a core).
const MIN_REBUILD_INTERVAL_MS: i64 = 2_000;
/// Re-read video rows changed this long before the previous pass: transactions that were still
/// open then, and clocks of other machines a little behind ours (clip counts need no overlap:
/// they are read by fold number, `store::changed_clips`)…
const OVERLAP_MS: i64 = 1_000;
/// …and once a minute (with the count of feedable clips) a pass reaches back this far, for
/// slower transactions and clocks further off.
const CATCH_UP_MS: i64 = 30_000;
/// A kept viewer state read less than this after a change to it is dropped too (other
/// machines' clocks, and a batch's stamp comes a little before its commit).
const VIEWER_OVERLAP_MS: i64 = 5_000;
/// Event batches queue their clips' counts; every 2 s one process adds up the queue into
/// the clips' rows (each clip's row rewritten once per fold, not once per batch naming it).
/// The rebuild that follows puts them in the ranking.
const FOLD_EVERY_TICKS: u64 = 4;
/// Most queued batches one pass folds (the queue holds about 2 s of batches).
const FOLD_MAX: usize = 1024;
const HISTORY_DAYS: i64 = 30;
/// Longest a viewer's state is kept. Every change to it drops it (see the module's doc); this
/// bounds only what time alone changes — affinities decaying with a half-life of days, the
/// seen window of days moving on — so ten minutes changes nothing a viewer could notice, where
/// a minute made a viewer who pages every 16 s read their state on every fourth page.
const VIEWER_TTL_MS: i64 = 600_000;

#[derive(Clone)]
pub struct Ranker(Arc<Inner>);

struct Inner {
    cfg: RankConfig,
    /// The current catalog, and the number of the pass that built it.
    catalog: RwLock<(u64, Arc<Catalog>)>,
    working: tokio::sync::Mutex<Working>,
    /// Accounts known to exist (accounts are never deleted): `?viewer=` is checked once.
    known_viewers: quick_cache::sync::Cache<String, ()>,
    viewers: quick_cache::sync::Cache<String, Arc<Cached>, ByWeight>,
    /// What clips show on a page, kept between pages.
    showcase: Showcase,
}

/// A viewer's state as read at `loaded_at`.
struct Cached {
    state: Arc<ViewerState>,
    loaded_at: i64,
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<String, Arc<Cached>> for ByWeight {
    fn weight(&self, key: &String, val: &Arc<Cached>) -> u64 {
        key.len() as u64 + val.weight
    }
}

#[derive(Default)]
struct Working {
    clips: HashMap<String, Arc<Clip>>,
    sales: Sales,
    neighbours: Arc<Neighbours>,
    /// Start of the last pass that read changes.
    since: Option<i64>,
    /// The last fold of clip counts whose rows were read (`store::last_fold`).
    fold_read: i64,
    /// Start of the last pass that read which viewers changed.
    viewers_since: Option<i64>,
    /// When the catalog was last rebuilt, and whether changes wait for the next rebuild.
    built_at: i64,
    pending: bool,
    /// Passes that started a catalog build.
    builds: u64,
}

/// What a refresh pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Fold the clip counts event batches queued (`store::fold_counts`) before reading.
    pub fold: bool,
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
        fold: true,
        full: true,
        verify: true,
        sales: true,
        neighbours: true,
    };
}

impl Ranker {
    pub fn new(cfg: RankConfig) -> Ranker {
        Ranker(Arc::new(Inner {
            catalog: RwLock::new((0, Arc::new(Catalog::default()))),
            working: tokio::sync::Mutex::new(Working::default()),
            known_viewers: quick_cache::sync::Cache::new(200_000),
            viewers: quick_cache::sync::Cache::with_weighter(
                20_000,
                cfg.viewer_cache_mb.max(1) << 20,
                ByWeight,
            ),
            showcase: Showcase::new(),
            cfg,
        }))
    }

    pub(crate) fn showcase(&self) -> &Showcase {
        &self.0.showcase
    }

    /// Everything the ranker knows about `viewer` now: kept from an earlier page unless it
    /// changed since (see the module's doc), else read from the database.
    pub async fn viewer_state(
        &self,
        db: &Db,
        viewer: &str,
        now: i64,
    ) -> sqlx::Result<Arc<ViewerState>> {
        if let Some(cached) = self.0.viewers.get(viewer) {
            if now - cached.loaded_at < VIEWER_TTL_MS {
                return Ok(cached.state.clone());
            }
        }
        let loaded_at = now_ms();
        let state = Arc::new(store::viewer_state(db, &self.0.cfg, viewer, now).await?);
        let weight = state.weight() as u64;
        self.0.viewers.insert(
            viewer.to_owned(),
            Arc::new(Cached {
                state: state.clone(),
                loaded_at,
                weight,
            }),
        );
        Ok(state)
    }

    /// Drops this process's copy of `viewer`'s state (their events were just applied).
    pub fn forget_viewer(&self, viewer: &str) {
        self.0.viewers.remove(viewer);
    }

    /// Drops the copies of viewers' states that event batches (of any process) changed since
    /// the last pass.
    async fn drop_changed_viewers(&self, db: &Db) -> sqlx::Result<()> {
        let started = now_ms();
        let since = {
            let mut w = self.0.working.lock().await;
            w.viewers_since.replace(started)
        };
        let Some(since) = since else {
            return Ok(());
        };
        if self.0.viewers.is_empty() {
            return Ok(());
        }
        for (viewer, changed_at) in store::changed_viewers(db, since - VIEWER_OVERLAP_MS).await? {
            // A copy read before the change committed is stale; allow for other machines'
            // clocks and for the time between the batch's stamp and its commit.
            let stale = self
                .0
                .viewers
                .get(viewer.as_str())
                .is_some_and(|c| c.loaded_at <= changed_at + VIEWER_OVERLAP_MS);
            if stale {
                self.0.viewers.remove(viewer.as_str());
            }
        }
        Ok(())
    }

    /// Whether account `id` exists (remembered once seen: accounts are never deleted).
    pub async fn viewer_exists(&self, db: &Db, id: &AccountId) -> sqlx::Result<bool> {
        if self.0.known_viewers.get(id.as_str()).is_some() {
            return Ok(true);
        }
        let exists = vitrine_identity::accounts::get(db, id).await?.is_some();
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
        self.current().1
    }

    /// The current catalog and the number of the pass that built it (0: none yet).
    fn current(&self) -> (u64, Arc<Catalog>) {
        self.0
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds the clip counts event batches queued to the clips' rows (at most `FOLD_MAX`
    /// batches); returns how many batches it folded.
    /// Not before the first catalog: its priors judge the traffic-pool stages a fold finishes.
    pub async fn fold(&self, db: &Db) -> sqlx::Result<usize> {
        let (build, catalog) = self.current();
        if build == 0 {
            return Ok(0);
        }
        store::fold_counts(db, &self.0.cfg, &catalog.priors, FOLD_MAX).await
    }

    /// One refresh pass; rebuilds the catalog if anything changed.
    pub async fn refresh(&self, db: &Db, what: Refresh) -> anyhow::Result<()> {
        let mut w = self.0.working.lock().await;
        if what.fold {
            // A failed fold is retried next time; the rest of the pass still runs.
            if let Err(e) = self.fold(db).await {
                tracing::warn!(error = ?e, "folding the queued clip counts failed; retrying");
            }
        }
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
                // Read first: a fold committing during the read is read again next pass.
                w.fold_read = store::last_fold(db).await?;
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
                let overlap = if what.verify { CATCH_UP_MS } else { OVERLAP_MS };
                let (clips, fold_read) =
                    store::changed_clips(db, since - overlap, w.fold_read).await?;
                w.fold_read = fold_read;
                for (clip, feedable) in clips {
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
            let sales = store::sales(db, &self.0.cfg).await?;
            if sales != w.sales {
                w.sales = sales;
                changed = true;
            }
        }
        if what.neighbours {
            let histories =
                store::histories(db, started - HISTORY_DAYS * 24 * 3_600_000, 30).await?;
            w.neighbours = Arc::new(
                tokio::task::spawn_blocking(move || {
                    catalog::neighbours(&histories, catalog::NEIGHBOURS_KEPT)
                })
                .await?,
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
        w.builds += 1;
        let build = w.builds;
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
        // Builds run outside the lock, so two passes (the loop's and an explicit one) can finish
        // out of order: never replace a catalog with one read earlier.
        let mut current = self.0.catalog.write().unwrap_or_else(|e| e.into_inner());
        if build > current.0 {
            *current = (build, Arc::new(built));
        }
        Ok(())
    }

    /// Keeps the catalog fresh until `shutdown`.
    pub async fn run(self, db: Db, shutdown: CancellationToken) {
        let mut tick: u64 = 0;
        // No catalog yet (the first load failed): the first pass reads everything.
        let mut failed = self.0.catalog.read().unwrap_or_else(|e| e.into_inner()).0 == 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            tick += 1;
            let what = Refresh {
                fold: tick.is_multiple_of(FOLD_EVERY_TICKS),
                full: tick.is_multiple_of(1200),
                verify: tick.is_multiple_of(120),
                sales: tick.is_multiple_of(20),
                neighbours: tick.is_multiple_of(600),
            };
            if let Err(e) = self.drop_changed_viewers(&db).await {
                tracing::warn!(error = ?e, "reading which viewers changed failed; retrying");
            }
            // After a failure (at start, say) the next pass reads everything again.
            let what = if failed { Refresh::ALL } else { what };
            failed = false;
            if let Err(e) = self.refresh(&db, what).await {
                failed = true;
                metrics::counter!("vitrine_catalog_refresh_failures_total").increment(1);
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
