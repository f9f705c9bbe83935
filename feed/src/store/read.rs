//! The read path: the catalog's clips (all, changed since, their sales), co-engagement
//! histories, a viewer's state for a page, a clip's standing for its creator.

use std::collections::HashMap;

use sqlx::Row;
use vitrine_core::db::Conn;
use vitrine_core::{
    db::{placeholder_list as list, Backend, Db, ROW_SEPARATOR},
    money::saturating_minor,
    videos::VideoStatus,
};

use crate::{
    catalog::ViewerState,
    config::RankConfig,
    model::{self, key, Clip, Commerce, Counts, Key, Pool},
};

use super::{DAY_MS, ROWS_PER_STATEMENT};

pub(super) fn counts_from(r: &sqlx::any::AnyRow) -> sqlx::Result<Counts> {
    let int =
        |name: &str| -> sqlx::Result<i64> { Ok(r.try_get::<Option<i64>, _>(name)?.unwrap_or(0)) };
    Ok(Counts {
        impressions: int("impressions")?,
        completes: int("completes")?,
        likes: int("likes")?,
        shares: int("shares")?,
        comments: int("comments")?,
        follows: int("follows")?,
        not_interested: int("not_interested")?,
        product_clicks: int("product_clicks")?,
        purchases: 0,
        gmv_minor: 0,
        watch_sum: r.try_get::<Option<f64>, _>("watch_sum")?.unwrap_or(0.0),
        watched: int("watched")?,
    })
}

/// SQL for clips (over `videos v LEFT JOIN feed_video_stats s`) joined into one text value
/// (`Backend::join_rows`): a pass reads tens of thousands of clips under a stream of events
/// (every clip a fold touched), and the SQLite driver wakes the reading task once per row.
/// A record is `id creator duration status suspended ready_at impressions completes likes
/// shares comments follows not_interested product_clicks watch_sum watched trend trend_epoch
/// stage pool`, an absent value empty; [`clip_record`] reads one back.
///
/// A clip is feedable when its video is `ready` or `playable` and its creator is not suspended
/// (the suspension touches the creator's videos, so the refresh sees it).
fn clips_joined(backend: Backend) -> String {
    let int = |e: &str| format!("COALESCE(CAST({e} AS TEXT), '')");
    let real = |e: &str| backend.real_text(&format!("COALESCE({e}, 0)"));
    let fields = [
        "v.id".to_owned(),
        "v.creator_id".to_owned(),
        int("v.duration_ms"),
        "v.status".to_owned(),
        "CASE WHEN EXISTS (SELECT 1 FROM accounts a WHERE a.id = v.creator_id \
         AND a.suspended_at IS NOT NULL) THEN '1' ELSE '0' END"
            .to_owned(),
        int("COALESCE(v.ready_at, v.updated_at)"),
        int("s.impressions"),
        int("s.completes"),
        int("s.likes"),
        int("s.shares"),
        int("s.comments"),
        int("s.follows"),
        int("s.not_interested"),
        int("s.product_clicks"),
        real("s.watch_sum"),
        int("s.watched"),
        real("s.trend"),
        int("s.trend_epoch"),
        int("s.stage"),
        "COALESCE(s.pool, '')".to_owned(),
    ];
    backend.join_rows(&fields.join(" || ' ' || "))
}

/// One record of [`clips_joined`]: the clip, and whether it may be in the feed.
fn clip_record(record: &str) -> sqlx::Result<(Clip, bool)> {
    let bad = || sqlx::Error::Decode(format!("a clip record: {record:?}").into());
    let f: Vec<&str> = record.split(' ').collect();
    let [id, creator, duration, status, suspended, ready_at, impressions, completes, likes, shares, comments, follows, not_interested, product_clicks, watch_sum, watched, trend, trend_epoch, stage, pool] =
        f[..]
    else {
        return Err(bad());
    };
    let int = |t: &str| -> sqlx::Result<i64> {
        if t.is_empty() {
            Ok(0)
        } else {
            t.parse().map_err(|_| bad())
        }
    };
    let real = |t: &str| t.parse::<f64>().map_err(|_| bad());
    let feedable = matches!(
        status.parse::<VideoStatus>(),
        Ok(VideoStatus::Ready | VideoStatus::Playable)
    ) && suspended == "0";
    Ok((
        Clip {
            id: id.to_owned(),
            creator: creator.to_owned(),
            duration_ms: if duration.is_empty() {
                None
            } else {
                Some(int(duration)?)
            },
            ready_at: int(ready_at)?,
            counts: Counts {
                impressions: int(impressions)?,
                completes: int(completes)?,
                likes: int(likes)?,
                shares: int(shares)?,
                comments: int(comments)?,
                follows: int(follows)?,
                not_interested: int(not_interested)?,
                product_clicks: int(product_clicks)?,
                purchases: 0,
                gmv_minor: 0,
                watch_sum: real(watch_sum)?,
                watched: int(watched)?,
            },
            stage: int(stage)?,
            pool: Pool::parse(pool),
            trend: real(trend)?,
            trend_epoch: int(trend_epoch)?,
            commerce: None,
        },
        feedable,
    ))
}

/// The clips `sql` (a `SELECT` of [`clips_joined`] with parameters `binds`) reads.
async fn read_clips(db: &Db, sql: &str, binds: &[i64]) -> sqlx::Result<Vec<(Clip, bool)>> {
    let mut q = sqlx::query_scalar::<_, Option<String>>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    let joined = q.fetch_one(db.pool()).await?;
    joined
        .iter()
        .flat_map(|j| j.split(ROW_SEPARATOR))
        .map(clip_record)
        .collect()
}

/// Every feedable clip.
pub async fn all_clips(db: &Db) -> sqlx::Result<Vec<Clip>> {
    let sql = format!(
        "SELECT {} FROM videos v LEFT JOIN feed_video_stats s ON s.video_id = v.id \
         WHERE v.status IN ('ready', 'playable')",
        clips_joined(db.backend())
    );
    Ok(read_clips(db, &sql, &[])
        .await?
        .into_iter()
        .filter(|(_, feedable)| *feedable)
        .map(|(clip, _)| clip)
        .collect())
}

/// How many clips are feedable now.
pub async fn feedable_count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM videos v WHERE v.status IN ('ready', 'playable') AND NOT EXISTS \
         (SELECT 1 FROM accounts a WHERE a.id = v.creator_id AND a.suspended_at IS NOT NULL)",
    )
    .fetch_one(db.pool())
    .await
}

/// The number of the last fold of clip counts (`feed_folds`; 0: none yet).
pub async fn last_fold(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT seq FROM feed_folds WHERE id = 1")
        .fetch_optional(db.pool())
        .await
        .map(Option::unwrap_or_default)
}

/// What changed since a pass: clips whose video changed at or after `since` (a time), and
/// clips whose counts a fold numbered after `after_fold` changed, as `(clip, feedable)`; and
/// the number of the last fold read.
pub async fn changed_clips(
    db: &Db,
    since: i64,
    after_fold: i64,
) -> sqlx::Result<(Vec<(Clip, bool)>, i64)> {
    let joined = clips_joined(db.backend());
    let sql = format!(
        "SELECT {joined} FROM videos v LEFT JOIN feed_video_stats s ON s.video_id = v.id \
         WHERE v.updated_at >= $1"
    );
    let mut out = read_clips(db, &sql, &[since]).await?;
    // Folds commit in the order of their numbers (`fold_counts`): every fold up to `last` is
    // committed, and the rows of any later one are read by the next pass.
    let last = last_fold(db).await?;
    if last > after_fold {
        let sql = format!(
            "SELECT {joined} FROM feed_video_stats s JOIN videos v ON v.id = s.video_id \
             WHERE s.fold_seq > $1 AND s.fold_seq <= $2"
        );
        out.extend(read_clips(db, &sql, &[after_fold, last]).await?);
    }
    Ok((out, last.max(after_fold)))
}

/// What each clip sells now (from the shop) and the purchases credited to it.
#[derive(Debug, Default, PartialEq)]
pub struct Sales {
    pub selling: HashMap<String, Commerce>,
    pub sales: HashMap<String, (i64, i64)>,
}

pub async fn sales(db: &Db, cfg: &RankConfig) -> sqlx::Result<Sales> {
    let mut selling: HashMap<String, Commerce> = HashMap::new();
    for (video, category, price_minor, currency) in vitrine_shop::tags::visible_commerce(db).await?
    {
        let c = selling.entry(video).or_default();
        if let Some(k) = category {
            if !c.categories.contains(&k) {
                c.categories.push(k);
            }
        }
        if let Some(price) = cfg.in_reference(price_minor, &currency) {
            c.price = c.price.max(price.min(cfg.max_commerce_price));
        }
    }
    let mut sales: HashMap<String, (i64, i64)> = HashMap::new();
    for (video, currency, units, gmv) in vitrine_shop::attribution::sales_by_video(db).await? {
        let sold = sales.entry(video).or_default();
        sold.0 = sold.0.saturating_add(units);
        let cents = cfg
            .in_reference(gmv, &currency)
            .map_or(0, |major| saturating_minor(major * 100.0));
        sold.1 = sold.1.saturating_add(cents);
    }
    Ok(Sales { selling, sales })
}

/// Each viewer's recent positive clips (newest first, at most `per_viewer`), for
/// co-engagement.
pub async fn histories(db: &Db, since: i64, per_viewer: usize) -> sqlx::Result<Vec<Vec<Key>>> {
    let rows = sqlx::query(
        "SELECT viewer_id, video_id FROM feed_viewer_videos WHERE positive_at >= $1 \
         ORDER BY viewer_id, positive_at DESC",
    )
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<Vec<Key>> = Vec::new();
    let mut last: Option<String> = None;
    for r in rows {
        let viewer: String = r.try_get("viewer_id")?;
        if last.as_deref() != Some(viewer.as_str()) {
            out.push(Vec::new());
            last = Some(viewer);
        }
        let h = out.last_mut().expect("pushed");
        if h.len() < per_viewer {
            h.push(key(r.try_get("video_id")?));
        }
    }
    Ok(out)
}

/// Everything the ranker knows about `viewer` now, in one round trip: their clips within the
/// seen window and their affinities, each joined into one text value (`Backend::join_rows`:
/// a row costs a thread wake-up in the SQLite driver, and a heavy viewer has a thousand), and
/// their muted creators and follows, as one `UNION ALL` of rows tagged by kind.
pub async fn viewer_state(
    db: &Db,
    cfg: &RankConfig,
    viewer: &str,
    now: i64,
) -> sqlx::Result<ViewerState> {
    let mut state = ViewerState::default();
    let since = now - (cfg.seen_window_days * DAY_MS) as i64;
    let muted_since = now - ((cfg.fatigue_filter_days + cfg.fatigue_recovery_days) * DAY_MS) as i64;
    let backend = db.backend();
    // A clip: seen_at, positive_at, watch ratio, flags (what the viewer did with it, one bit
    // each: completed, liked, shared, commented, followed, not_interested, clicked), creator,
    // clip. Affinities: see `affinities_joined`.
    let clip = format!(
        "COALESCE(CAST(seen_at AS TEXT), '') || ' ' || COALESCE(CAST(positive_at AS TEXT), '') \
         || ' ' || {} || ' ' || CAST(completed + 2 * liked + 4 * shared + 8 * commented \
         + 16 * followed + 32 * not_interested + 64 * clicked AS TEXT) \
         || ' ' || creator_id || ' ' || video_id",
        backend.real_text("COALESCE(watch_ratio, 0)")
    );
    let sql = format!(
        "SELECT 'clips' AS kind, {} AS a, CAST(NULL AS BIGINT) AS at \
         FROM feed_viewer_videos WHERE viewer_id = $1 AND last_at >= $2 \
         UNION ALL \
         SELECT 'affinities', {}, CAST(NULL AS BIGINT) FROM feed_affinities WHERE viewer_id = $3 \
         UNION ALL \
         SELECT 'muted', creator_id, at FROM feed_muted_creators \
         WHERE viewer_id = $4 AND at >= $5 \
         UNION ALL \
         SELECT 'follow', creator_id, at FROM ( \
           SELECT creator_id, at FROM follows WHERE viewer_id = $6 ORDER BY at DESC LIMIT 200 \
         ) AS recent",
        backend.join_rows(&clip),
        affinities_joined(backend),
    );
    let rows = sqlx::query(&sql)
        .bind(viewer)
        .bind(since)
        .bind(viewer)
        .bind(viewer)
        .bind(muted_since)
        .bind(viewer)
        .fetch_all(db.pool())
        .await?;
    let half_life = cfg.affinity_half_life_days * DAY_MS;
    let mut positives: Vec<(i64, Key)> = Vec::new();
    let mut follows: Vec<(i64, Key)> = Vec::new();
    let bad = || sqlx::Error::Decode("a viewer's clip row".into());
    for r in rows {
        let Some(a) = r.try_get::<Option<String>, _>("a")? else {
            continue;
        };
        let at: Option<i64> = r.try_get("at")?;
        match r.try_get::<String, _>("kind")?.as_str() {
            "clips" => {
                for record in a.split(ROW_SEPARATOR) {
                    let f: Vec<&str> = record.splitn(6, ' ').collect();
                    let [seen_at, positive_at, watch, flags, creator, clip] = f[..] else {
                        return Err(bad());
                    };
                    let time = |t: &str| t.parse::<i64>().ok();
                    let flags: i64 = flags.parse().map_err(|_| bad())?;
                    let flag = |bit: u32| (flags >> bit) & 1;
                    if time(seen_at).is_some() {
                        let watch: f64 = watch.parse().map_err(|_| bad())?;
                        state
                            .viewer
                            .history
                            .entry(key(creator))
                            .or_default()
                            .add(&Counts {
                                impressions: 1,
                                completes: flag(0),
                                likes: flag(1),
                                shares: flag(2),
                                comments: flag(3),
                                follows: flag(4),
                                not_interested: flag(5),
                                product_clicks: flag(6),
                                watch_sum: watch,
                                watched: i64::from(watch > 0.0),
                                ..Default::default()
                            });
                    }
                    if let Some(positive) = time(positive_at) {
                        positives.push((positive, key(clip)));
                    }
                    if time(seen_at).is_some() || flag(5) != 0 {
                        state.seen.insert(key(clip));
                    }
                }
            }
            "affinities" => {
                for record in a.split(ROW_SEPARATOR) {
                    let (kind, at, score, name) = affinity_record(record)?;
                    let score = model::decay(score, now - at, half_life);
                    if kind == "creator" {
                        state.viewer.creators.insert(key(name), score);
                    } else {
                        state.viewer.categories.insert(name.to_owned(), score);
                    }
                }
            }
            "muted" => {
                state.viewer.muted.insert(key(&a), at.unwrap_or(0));
            }
            _ => follows.push((at.unwrap_or(0), key(&a))),
        }
    }
    positives.sort_by(|a, b| b.cmp(a));
    state.positives = positives.into_iter().take(50).map(|(_, v)| v).collect();
    follows.sort_by(|a, b| b.cmp(a));
    state.follows = follows.into_iter().map(|(_, c)| c).collect();
    Ok(state)
}

/// SQL for a viewer's `feed_affinities` rows joined into one text value
/// (`Backend::join_rows`), each as `kind at score key` (the key last: a category may hold
/// spaces); [`affinity_record`] reads one back.
pub(super) fn affinities_joined(backend: Backend) -> String {
    backend.join_rows(&format!(
        "kind || ' ' || CAST(at AS TEXT) || ' ' || {} || ' ' || key",
        backend.real_text("score")
    ))
}

/// One record of [`affinities_joined`]: `(kind, at, score, key)`.
pub(super) fn affinity_record(record: &str) -> sqlx::Result<(&str, i64, f64, &str)> {
    let bad = || sqlx::Error::Decode("a viewer's affinity row".into());
    let mut f = record.splitn(4, ' ');
    let (Some(kind), Some(at), Some(score), Some(key)) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(bad());
    };
    Ok((
        kind,
        at.parse().map_err(|_| bad())?,
        score.parse().map_err(|_| bad())?,
        key,
    ))
}

/// Viewers whose state changed at or after `since`, and when.
pub async fn changed_viewers(db: &Db, since: i64) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT viewer_id, changed_at FROM feed_viewer_changes WHERE changed_at >= $1")
        .bind(since)
        .fetch_all(db.pool())
        .await
}

/// A clip's place in the traffic pools, for its creator.
/// Where a clip stands in the staged traffic pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// 0-based stage.
    pub stage: i64,
    pub pool: Pool,
    /// Viewers who have been shown the clip.
    pub impressions: i64,
    /// Impressions at which the current stage ends (`None` once no longer testing).
    pub stage_ends_at: Option<i64>,
}

pub async fn distribution(db: &Db, cfg: &RankConfig, video: &str) -> sqlx::Result<Standing> {
    let row =
        sqlx::query("SELECT impressions, stage, pool FROM feed_video_stats WHERE video_id = $1")
            .bind(video)
            .fetch_optional(db.pool())
            .await?;
    let (impressions, stage, pool) = match row {
        Some(r) => (
            r.try_get("impressions")?,
            r.try_get("stage")?,
            Pool::parse(r.try_get::<String, _>("pool")?.as_str()),
        ),
        None => (0, 0, Pool::Testing),
    };
    Ok(Standing {
        stage,
        pool,
        impressions,
        stage_ends_at: if pool == Pool::Testing {
            cfg.stage_end(stage as usize)
        } else {
            None
        },
    })
}

/// Which of `ids` name videos that exist: `id → (creator, duration)`.
pub async fn videos_named(
    conn: &mut Conn,
    ids: &[&str],
) -> sqlx::Result<HashMap<String, (String, Option<i64>)>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id, creator_id, duration_ms FROM videos WHERE id IN ({})",
            list(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.insert(
                r.try_get("id")?,
                (r.try_get("creator_id")?, r.try_get("duration_ms")?),
            );
        }
    }
    Ok(out)
}

/// Which of `ids` (distinct) name no video: clips deleted since their events were queued.
/// Normally none, so each chunk is one counted row; only a chunk that is short is read in full.
pub async fn missing_videos(
    conn: &mut Conn,
    ids: &[&str],
) -> sqlx::Result<std::collections::HashSet<String>> {
    let mut missing = std::collections::HashSet::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT COUNT(*) FROM videos WHERE id IN ({})",
            list(chunk.len(), 1)
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        if q.fetch_one(&mut *conn).await? == chunk.len() as i64 {
            continue;
        }
        let found = videos_named(conn, chunk).await?;
        missing.extend(
            chunk
                .iter()
                .filter(|id| !found.contains_key(**id))
                .map(|id| (*id).to_owned()),
        );
    }
    Ok(missing)
}
