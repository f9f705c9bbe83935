//! The write path: one viewer's event batch applied under their lock (`apply`: their history,
//! affinities, mutes and follows rewritten, the clips' counts queued), an anonymous viewer's
//! state merged into an account, and the fold that adds queued counts to the clips' rows and
//! judges their traffic-pool stages.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use sqlx::Row;
use vitrine_core::db::Conn;
use vitrine_core::db::{
    placeholder_list as list, placeholder_rows as values, Backend, Db, Tx, ROW_SEPARATOR,
};

use crate::{
    config::RankConfig,
    model::{
        self,
        viewing::{self, Effects, Seen},
        Counts, Pool, Priors, Trend,
    },
};

use super::{
    read::{affinities_joined, affinity_record, counts_from, missing_videos},
    Incoming, DAY_MS, ROWS_PER_STATEMENT,
};

/// One viewer's new events (already stored), with the product categories of the clips'
/// visible tags.
pub struct Batch<'a> {
    pub viewer: &'a str,
    pub events: &'a [Incoming],
    pub categories: &'a HashMap<String, Vec<String>>,
    pub now: i64,
}

/// What a batch reads of the viewer before it rewrites it: their rows for the batch's clips,
/// their affinities, and the version of their state these were read at.
///
/// Read ahead of the write transaction (on a reader connection, so batches of different viewers
/// overlap instead of queueing for the one writer), and read again inside it only if another
/// batch for the viewer committed in between: every batch bumps the version under the viewer's
/// lock (`apply`).
#[derive(Debug, Default)]
pub struct ViewerRows {
    pub version: i64,
    seen: HashMap<String, Seen>,
    affinities: HashMap<(String, String), (f64, i64)>,
}

/// The version of `viewer`'s ranker state (0 before their first batch).
pub async fn viewer_version(conn: &mut Conn, viewer: &str) -> sqlx::Result<i64> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM feed_viewer_changes WHERE viewer_id = $1")
            .bind(viewer)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(version.unwrap_or(0))
}

/// Reads what `apply` needs of `viewer` for a batch on `videos`.
pub async fn read_viewer(
    conn: &mut Conn,
    viewer: &str,
    videos: &[&str],
) -> sqlx::Result<ViewerRows> {
    let backend = Backend::of(conn);
    let version = viewer_version(conn, viewer).await?;
    let seen = load_seen(conn, viewer, videos).await?;
    // One row (`Backend::join_rows`): a viewer has an affinity per creator they engaged with,
    // hundreds for a heavy one, and the driver wakes the reader once per row.
    let mut affinities = HashMap::new();
    let joined: Option<String> = sqlx::query_scalar(&format!(
        "SELECT {} FROM feed_affinities WHERE viewer_id = $1",
        affinities_joined(backend)
    ))
    .bind(viewer)
    .fetch_one(&mut *conn)
    .await?;
    for record in joined.iter().flat_map(|j| j.split(ROW_SEPARATOR)) {
        let (kind, at, score, key) = affinity_record(record)?;
        affinities.insert((kind.to_owned(), key.to_owned()), (score, at));
    }
    Ok(ViewerRows {
        version,
        seen,
        affinities,
    })
}

/// The distinct clips of `events`, sorted.
pub fn clips_of(events: &[Incoming]) -> Vec<&str> {
    sorted_unique(events.iter().map(|e| e.video.as_str()))
}

/// `ids` sorted, each once.
pub fn sorted_unique<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Applies a batch of events to the ranker's state. The caller holds the viewer's lock
/// (`lock_viewer`) and read `rows` under it, or checked under it that their version is current.
pub async fn apply(
    tx: &mut Tx,
    cfg: &RankConfig,
    batch: Batch<'_>,
    rows: ViewerRows,
) -> sqlx::Result<()> {
    let Batch {
        viewer,
        events,
        categories,
        now,
    } = batch;
    if events.is_empty() {
        return Ok(());
    }
    let videos = clips_of(events);
    let ViewerRows {
        mut seen,
        affinities: current,
        ..
    } = rows;
    let trend = Trend::new(cfg);
    let epoch = trend.epoch(now);
    let Effects {
        deltas,
        affinity,
        muted,
        followed,
    } = viewing::fold(&mut seen, events, categories, &trend, epoch);

    save_seen(tx, viewer, &seen, &videos).await?;
    save_affinities(tx, cfg, viewer, &current, affinity, now).await?;
    for (creator, at) in muted {
        sqlx::query(
            "INSERT INTO feed_muted_creators (viewer_id, creator_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT (viewer_id, creator_id) DO UPDATE SET at = excluded.at",
        )
        .bind(viewer)
        .bind(creator)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    for (creator, at) in followed {
        sqlx::query(
            "INSERT INTO follows (viewer_id, creator_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(viewer)
        .bind(creator)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    queue_counts(tx, events, &deltas, epoch).await?;
    // Last, so the stamp is as close to the commit as it can be: other processes drop their
    // copy of this viewer's state when they see it, and a batch that read the viewer's rows
    // ahead of its transaction sees they changed.
    bump_viewer(tx, viewer).await
}

/// Marks the viewer's ranker state changed: their version moves on and the change is stamped.
async fn bump_viewer(conn: &mut Conn, viewer: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO feed_viewer_changes (viewer_id, changed_at, version) VALUES ($1, $2, 1) \
         ON CONFLICT (viewer_id) DO UPDATE SET changed_at = excluded.changed_at, \
         version = feed_viewer_changes.version + 1",
    )
    .bind(viewer)
    .bind(vitrine_core::time::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves what an anonymous viewer did into the account they signed in to (`from` → `into`): the
/// clips they saw and what they did with them, their affinities, mutes and follows. What `into`
/// already had wins where both have a row. Both viewers' versions are bumped, like any write to
/// their state. Clip counts are left as they are (each was counted when it happened).
pub async fn merge_viewer(db: &Db, from: &str, into: &str) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let backend = db.backend();
    // In a fixed order, so two merges cannot wait on each other.
    let (first, second) = if from < into {
        (from, into)
    } else {
        (into, from)
    };
    lock_viewer(&mut tx, backend, first).await?;
    lock_viewer(&mut tx, backend, second).await?;
    for (table, columns) in [
        (
            "feed_viewer_videos",
            "video_id, creator_id, seen_at, watch_ratio, completed, liked, shared, commented, \
             followed, not_interested, clicked, positive_at, last_at",
        ),
        ("feed_affinities", "kind, key, score, at"),
        ("feed_muted_creators", "creator_id, at"),
        ("follows", "creator_id, at"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO {table} (viewer_id, {columns}) SELECT $1, {columns} FROM {table} \
             WHERE viewer_id = $2 ON CONFLICT DO NOTHING"
        ))
        .bind(into)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE viewer_id = $1"))
            .bind(from)
            .execute(&mut *tx)
            .await?;
    }
    for viewer in [from, into] {
        bump_viewer(&mut tx, viewer).await?;
    }
    tx.commit().await
}

/// Makes this transaction the viewer's only writer until it ends: their rows are read, then
/// rewritten (PostgreSQL: a transaction-scoped advisory lock, which a transaction may take more
/// than once; SQLite: write transactions already run one at a time).
pub async fn lock_viewer(tx: &mut Tx, backend: Backend, viewer: &str) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from(crate::catalog::fingerprint(viewer)))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn load_seen(
    conn: &mut Conn,
    viewer: &str,
    videos: &[&str],
) -> sqlx::Result<HashMap<String, Seen>> {
    let mut out = HashMap::new();
    for chunk in videos.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT video_id, creator_id, seen_at, watch_ratio, completed, liked, shared, \
             commented, followed, not_interested, clicked, positive_at, last_at \
             FROM feed_viewer_videos WHERE viewer_id = $1 AND video_id IN ({})",
            list(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql).bind(viewer);
        for v in chunk {
            q = q.bind(*v);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let flag = |name: &str| r.try_get::<i64, _>(name).map(|f| f != 0);
            out.insert(
                r.try_get("video_id")?,
                Seen {
                    creator: r.try_get("creator_id")?,
                    seen_at: r.try_get("seen_at")?,
                    watch_ratio: r.try_get("watch_ratio")?,
                    completed: flag("completed")?,
                    liked: flag("liked")?,
                    shared: flag("shared")?,
                    commented: flag("commented")?,
                    followed: flag("followed")?,
                    not_interested: flag("not_interested")?,
                    clicked: flag("clicked")?,
                    positive_at: r.try_get("positive_at")?,
                    last_at: r.try_get("last_at")?,
                },
            );
        }
    }
    Ok(out)
}

async fn save_seen(
    tx: &mut Tx,
    viewer: &str,
    seen: &HashMap<String, Seen>,
    videos: &[&str],
) -> sqlx::Result<()> {
    const COLS: usize = 14;
    for chunk in videos.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO feed_viewer_videos (viewer_id, video_id, creator_id, seen_at, \
             watch_ratio, completed, liked, shared, commented, followed, not_interested, \
             clicked, positive_at, last_at) VALUES {} \
             ON CONFLICT (viewer_id, video_id) DO UPDATE SET seen_at = excluded.seen_at, \
             watch_ratio = excluded.watch_ratio, completed = excluded.completed, \
             liked = excluded.liked, shared = excluded.shared, commented = excluded.commented, \
             followed = excluded.followed, not_interested = excluded.not_interested, \
             clicked = excluded.clicked, positive_at = excluded.positive_at, \
             last_at = excluded.last_at",
            values(chunk.len(), COLS, 1)
        );
        let mut q = sqlx::query(&sql);
        for v in chunk {
            let s = &seen[*v];
            q = q
                .bind(viewer)
                .bind(*v)
                .bind(&s.creator)
                .bind(s.seen_at)
                .bind(s.watch_ratio)
                .bind(i64::from(s.completed))
                .bind(i64::from(s.liked))
                .bind(i64::from(s.shared))
                .bind(i64::from(s.commented))
                .bind(i64::from(s.followed))
                .bind(i64::from(s.not_interested))
                .bind(i64::from(s.clicked))
                .bind(s.positive_at)
                .bind(s.last_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn save_affinities(
    tx: &mut Tx,
    cfg: &RankConfig,
    viewer: &str,
    current: &HashMap<(String, String), (f64, i64)>,
    changes: HashMap<(&'static str, String), Vec<(f64, i64)>>,
    now: i64,
) -> sqlx::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let half_life = cfg.affinity_half_life_days * DAY_MS;
    let mut rows: Vec<(&str, String, f64)> = Vec::new();
    for ((kind, key), deltas) in changes {
        let (mut score, at) = current
            .get(&(kind.to_owned(), key.clone()))
            .copied()
            .unwrap_or((0.0, now));
        score = model::decay(score, now - at, half_life);
        for (delta, when) in deltas {
            score = if delta == f64::NEG_INFINITY {
                0.0
            } else {
                (score + model::decay(delta, now - when, half_life)).max(0.0)
            };
        }
        rows.push((kind, key, score));
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO feed_affinities (viewer_id, kind, key, score, at) VALUES {} \
             ON CONFLICT (viewer_id, kind, key) DO UPDATE SET score = excluded.score, \
             at = excluded.at",
            values(chunk.len(), 5, 1)
        );
        let mut q = sqlx::query(&sql);
        for (kind, key, score) in chunk {
            q = q.bind(viewer).bind(*kind).bind(key).bind(*score).bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One batch's additions to its clips' counts, as queued in `feed_count_deltas`.
#[derive(Debug, Serialize, Deserialize)]
struct CountDeltas {
    /// The trend epoch the clips' trend additions are weighted for.
    epoch: i64,
    clips: Vec<ClipDelta>,
}

/// One clip's additions: id, duration (for its stage's priors), `[impressions, completes,
/// likes, shares, comments, follows, not_interested, product_clicks, watched]`, watch_sum,
/// trend. Positional, to keep a 1,000-clip batch's row small.
#[derive(Debug, Serialize, Deserialize)]
struct ClipDelta(String, Option<i64>, [i64; 9], f64, f64);

impl ClipDelta {
    fn counts(&self) -> Counts {
        let [impressions, completes, likes, shares, comments, follows, not_interested, product_clicks, watched] =
            self.2;
        Counts {
            impressions,
            completes,
            likes,
            shares,
            comments,
            follows,
            not_interested,
            product_clicks,
            watched,
            watch_sum: self.3,
            ..Default::default()
        }
    }
}

/// Queues a batch's additions to its clips' counts for `fold_counts`: one row appended, where
/// adding to each clip's row would rewrite a random page per clip.
async fn queue_counts(
    tx: &mut Tx,
    events: &[Incoming],
    deltas: &HashMap<&str, (Counts, f64)>,
    epoch: i64,
) -> sqlx::Result<()> {
    let durations: HashMap<&str, Option<i64>> = events
        .iter()
        .map(|e| (e.video.as_str(), e.duration_ms))
        .collect();
    let clips = deltas
        .iter()
        .filter(|(_, (c, trend))| *c != Counts::default() || *trend != 0.0)
        .map(|(video, (c, trend))| {
            ClipDelta(
                (*video).to_owned(),
                durations.get(video).copied().flatten(),
                [
                    c.impressions,
                    c.completes,
                    c.likes,
                    c.shares,
                    c.comments,
                    c.follows,
                    c.not_interested,
                    c.product_clicks,
                    c.watched,
                ],
                c.watch_sum,
                *trend,
            )
        })
        .collect::<Vec<_>>();
    if clips.is_empty() {
        return Ok(());
    }
    let body = serde_json::to_string(&CountDeltas { epoch, clips })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO feed_count_deltas (id, created_at, body) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::now_v7().simple().to_string())
        .bind(vitrine_core::time::now_ms())
        .bind(body)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queued batches folded per transaction: bounds how long a fold holds SQLite's one writer
/// (a batch names up to 1,000 clips).
const FOLD_BATCHES: i64 = 16;
/// The PostgreSQL advisory lock a fold holds (negative: viewers' locks are 32-bit fingerprints,
/// never negative).
const FOLD_LOCK: i64 = -0x666f_6c64;

/// Adds up to `max` queued batches' counts to `feed_video_stats`, oldest first, and judges the
/// traffic-pool stages they finished; returns how many batches it folded.
///
/// Any number of API processes may fold at once: on PostgreSQL one does and the others return
/// at once (a transaction-scoped advisory lock, tried, not waited for); SQLite runs write
/// transactions one at a time. A batch's row is deleted in the transaction that adds it, so it
/// is counted exactly once.
pub async fn fold_counts(
    db: &Db,
    cfg: &RankConfig,
    priors: &Priors,
    max: usize,
) -> sqlx::Result<usize> {
    let backend = db.backend();
    let carry = Trend::new(cfg).carry();
    let mut folded = 0;
    while folded < max {
        let mut tx = db.begin().await?;
        if backend == Backend::Postgres {
            let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(FOLD_LOCK)
                .fetch_one(&mut *tx)
                .await?;
            if !ours {
                break;
            }
        }
        let bodies: Vec<String> = sqlx::query_scalar(
            "DELETE FROM feed_count_deltas WHERE id IN \
             (SELECT id FROM feed_count_deltas ORDER BY id LIMIT $1) RETURNING body",
        )
        .bind(FOLD_BATCHES.min(i64::try_from(max - folded).unwrap_or(i64::MAX)))
        .fetch_all(&mut *tx)
        .await?;
        if bodies.is_empty() {
            break;
        }
        let seq: i64 =
            sqlx::query_scalar("UPDATE feed_folds SET seq = seq + 1 WHERE id = 1 RETURNING seq")
                .fetch_one(&mut *tx)
                .await?;
        // Summed per trend epoch (a fold nearly always spans one).
        let mut epochs: BTreeMap<i64, HashMap<String, (Counts, f64)>> = BTreeMap::new();
        let mut durations: HashMap<String, Option<i64>> = HashMap::new();
        for body in &bodies {
            // A row this version cannot read (a newer one's format during a rolling deploy, or
            // damage) is dropped with a loud error rather than left to fail every fold after it.
            let batch: CountDeltas = match serde_json::from_str(body) {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, "a queued batch of clip counts cannot be read; its counts are lost");
                    continue;
                }
            };
            let sums = epochs.entry(batch.epoch).or_default();
            for clip in batch.clips {
                let (counts, trend) = sums.entry(clip.0.clone()).or_default();
                counts.add(&clip.counts());
                *trend += clip.4;
                durations.insert(clip.0, clip.1);
            }
        }
        // Clips deleted since their batch was queued have no row to add to (their foreign
        // key would fail the whole fold).
        let named: Vec<&str> = durations.keys().map(String::as_str).collect();
        let missing = missing_videos(&mut tx, &named).await?;
        let durations: HashMap<&str, Option<i64>> =
            durations.iter().map(|(v, d)| (v.as_str(), *d)).collect();
        for (epoch, sums) in &epochs {
            let sums: HashMap<&str, (Counts, f64)> = sums
                .iter()
                .filter(|(v, _)| !missing.contains(v.as_str()))
                .map(|(v, d)| (v.as_str(), *d))
                .collect();
            add_counts(
                &mut tx,
                cfg,
                priors,
                Fold {
                    sums: &sums,
                    durations: &durations,
                    epoch: *epoch,
                    carry,
                    seq,
                },
            )
            .await?;
        }
        tx.commit().await?;
        folded += bodies.len();
        if (bodies.len() as i64) < FOLD_BATCHES {
            break;
        }
    }
    Ok(folded)
}

/// What one fold adds for one trend epoch.
struct Fold<'a> {
    sums: &'a HashMap<&'a str, (Counts, f64)>,
    durations: &'a HashMap<&'a str, Option<i64>>,
    epoch: i64,
    carry: f64,
    /// This fold's number (`feed_folds`), stamped on every row it writes.
    seq: i64,
}

async fn add_counts(
    tx: &mut Tx,
    cfg: &RankConfig,
    priors: &Priors,
    fold: Fold<'_>,
) -> sqlx::Result<()> {
    const COLS: usize = 15;
    let Fold {
        sums: deltas,
        durations,
        epoch,
        carry,
        seq,
    } = fold;
    let mut rows: Vec<(&&str, &(Counts, f64))> = deltas.iter().collect();
    // A fixed order: concurrent batches lock the same rows in the same order.
    rows.sort_by_key(|r| *r.0);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let carry_at = chunk.len() * COLS + 1;
        let sql = format!(
            "INSERT INTO feed_video_stats (video_id, impressions, completes, likes, shares, \
             comments, follows, not_interested, product_clicks, watch_sum, watched, trend, \
             trend_epoch, updated_at, fold_seq) VALUES {} \
             ON CONFLICT (video_id) DO UPDATE SET \
             impressions = feed_video_stats.impressions + excluded.impressions, \
             completes = feed_video_stats.completes + excluded.completes, \
             likes = feed_video_stats.likes + excluded.likes, \
             shares = feed_video_stats.shares + excluded.shares, \
             comments = feed_video_stats.comments + excluded.comments, \
             follows = feed_video_stats.follows + excluded.follows, \
             not_interested = feed_video_stats.not_interested + excluded.not_interested, \
             product_clicks = feed_video_stats.product_clicks + excluded.product_clicks, \
             watch_sum = feed_video_stats.watch_sum + excluded.watch_sum, \
             watched = feed_video_stats.watched + excluded.watched, \
             trend = CASE \
               WHEN feed_video_stats.trend_epoch = excluded.trend_epoch \
                 THEN feed_video_stats.trend + excluded.trend \
               WHEN feed_video_stats.trend_epoch = excluded.trend_epoch - 1 \
                 THEN feed_video_stats.trend * ${} + excluded.trend \
               WHEN feed_video_stats.trend_epoch > excluded.trend_epoch \
                 THEN feed_video_stats.trend + excluded.trend * ${} \
               ELSE excluded.trend END, \
             trend_epoch = CASE WHEN feed_video_stats.trend_epoch > excluded.trend_epoch \
               THEN feed_video_stats.trend_epoch ELSE excluded.trend_epoch END, \
             updated_at = excluded.updated_at, fold_seq = excluded.fold_seq",
            values(chunk.len(), COLS, 1),
            carry_at,
            carry_at + 1,
        );
        let mut q = sqlx::query(&sql);
        // When the row last changed (for people reading the table; the refresh passes read
        // changes by `fold_seq`).
        let stamp = vitrine_core::time::now_ms();
        for (video, (c, trend)) in chunk {
            q = q
                .bind(**video)
                .bind(c.impressions)
                .bind(c.completes)
                .bind(c.likes)
                .bind(c.shares)
                .bind(c.comments)
                .bind(c.follows)
                .bind(c.not_interested)
                .bind(c.product_clicks)
                .bind(c.watch_sum)
                .bind(c.watched)
                .bind(*trend)
                .bind(epoch)
                .bind(stamp)
                .bind(seq);
        }
        q.bind(carry).bind(carry).execute(&mut **tx).await?;
    }

    // Only a new impression can finish a stage: read back just the clips in a traffic pool
    // whose impressions reached their stage's end, and judge them.
    let ends: String = (0..cfg.stages.len())
        .filter_map(|s| Some(format!(" WHEN {s} THEN {}", cfg.stage_end(s)?)))
        .collect();
    let reached = if ends.is_empty() {
        "0".to_owned()
    } else {
        format!("CASE stage{ends} ELSE 0 END")
    };
    let shown: Vec<&str> = rows
        .iter()
        .filter(|(_, (c, _))| c.impressions > 0)
        .map(|(video, _)| **video)
        .collect();
    let mut finished: Vec<(String, i64, Pool)> = Vec::new();
    for chunk in shown.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT video_id, impressions, completes, likes, shares, comments, follows, \
             not_interested, product_clicks, watch_sum, watched, stage, pool \
             FROM feed_video_stats WHERE video_id IN ({}) AND pool = 'testing' \
             AND impressions >= {reached}",
            list(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for video in chunk {
            q = q.bind(*video);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let video: String = r.try_get("video_id")?;
            let counts = counts_from(&r)?;
            let stage: i64 = r.try_get("stage")?;
            let pool = Pool::parse(r.try_get::<String, _>("pool")?.as_str());
            let duration = durations.get(video.as_str()).copied().flatten();
            let next = model::advance(cfg, stage, pool, &counts, priors.for_duration(duration));
            if next != (stage, pool) {
                finished.push((video, next.0, next.1));
            }
        }
    }
    for (video, stage, pool) in finished {
        tracing::info!(%video, stage, pool = pool.as_str(), "traffic pool stage finished");
        sqlx::query("UPDATE feed_video_stats SET stage = $1, pool = $2 WHERE video_id = $3")
            .bind(stage)
            .bind(pool.as_str())
            .bind(&video)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
