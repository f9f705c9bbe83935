//! `vitrine eval kuairand`: replays a real short-video interaction log (KuaiRand) through the
//! feed's own code and measures how well it ranks.
//!
//! The log is sorted by time and cut at 80 %. Every earlier interaction becomes the events a
//! client would send (impression, play, progress, complete, like or not-interested, comment,
//! share, follow) and goes through `vitrine_feed::store::apply` into a scratch SQLite database,
//! exactly as `POST /v1/events` applies them. The catalog is then built by the same code the
//! server runs, and each held-out interaction is scored by `vitrine_feed::model::score` for its
//! viewer as of the cut. Reported per method:
//! - GAUC: per viewer, the probability that a liked clip scores above a hated one, weighted by
//!   the viewer's held-out interactions (viewers with both kinds only);
//! - NDCG@10: per viewer with a liked clip, of their held-out clips ranked by score;
//! - coverage: share of the catalog that appears in some viewer's top 10 recommended from the
//!   whole catalog (what each method would actually put in feeds).

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use anyhow::Context;
use rand::{seq::SliceRandom, SeedableRng};
use vitrine_core::db::Db;
use vitrine_feed::{
    catalog::{self, Catalog},
    model::{PageState, Priors},
    store, RankConfig,
};

#[derive(Debug, Clone)]
struct Row {
    user: String,
    video: String,
    at: i64,
    click: bool,
    follow: bool,
    comment: bool,
    forward: bool,
    long_view: bool,
    play_ms: i64,
    duration_ms: i64,
    liked: bool,
}

fn load(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty file")?.split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("column {name} missing from {}", path.display()))
    };
    let (user, video, time, click, follow, comment, forward, long_view, play, duration, label) = (
        col("user_id")?,
        col("video_id")?,
        col("time_ms")?,
        col("is_click")?,
        col("is_follow")?,
        col("is_comment")?,
        col("is_forward")?,
        col("long_view")?,
        col("play_time_ms")?,
        col("duration_ms")?,
        col("label")?,
    );
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("line {} of {} is malformed", n + 2, path.display());
        let int = |i: usize| -> anyhow::Result<i64> {
            f.get(i).and_then(|v| v.parse().ok()).with_context(bad)
        };
        rows.push(Row {
            user: f.get(user).with_context(bad)?.to_string(),
            video: f.get(video).with_context(bad)?.to_string(),
            at: int(time)?,
            click: int(click)? == 1,
            follow: int(follow)? == 1,
            comment: int(comment)? == 1,
            forward: int(forward)? == 1,
            long_view: int(long_view)? == 1,
            play_ms: int(play)?,
            duration_ms: int(duration)?,
            liked: int(label)? == 1,
        });
    }
    rows.sort_by(|a, b| a.at.cmp(&b.at).then(a.user.cmp(&b.user)));
    Ok(rows)
}

fn video_id(v: &str) -> String {
    format!("vid_kuairand{v}")
}

/// The events a client would have sent for one interaction.
fn events(r: &Row) -> Vec<store::Incoming> {
    let mut out = Vec::new();
    let mut push = |kind: &str, watch_ms: Option<i64>| {
        out.push(store::Incoming {
            video: video_id(&r.video),
            creator: format!("acc_kuairand{}", r.video),
            duration_ms: (r.duration_ms > 0).then_some(r.duration_ms),
            kind: kind.into(),
            creator_scope: false,
            at: r.at,
            watch_ms,
        })
    };
    push("impression", None);
    if r.click {
        push("play", None);
    }
    if r.play_ms > 0 {
        push("progress", Some(r.play_ms));
    }
    if r.long_view {
        push("complete", None);
    }
    push(if r.liked { "like" } else { "not_interested" }, None);
    if r.comment {
        push("comment", None);
    }
    if r.forward {
        push("share", None);
    }
    if r.follow {
        push("follow", None);
    }
    out
}

/// Clips of the log, each with its own creator (the sample has no authors).
async fn insert_clips(db: &Db, rows: &[Row], ready_at: i64) -> anyhow::Result<()> {
    let mut durations: HashMap<&str, i64> = HashMap::new();
    for r in rows {
        durations.entry(&r.video).or_insert(r.duration_ms);
    }
    let mut tx = db.begin().await?;
    for (video, duration) in durations {
        let creator = format!("acc_kuairand{video}");
        sqlx::query(
            "INSERT INTO accounts (id, role, name, token_hash, handle, created_at) \
             VALUES ($1, 'user', $2, $3, $2, 0)",
        )
        .bind(&creator)
        .bind(&creator)
        .bind(format!("none:{creator}"))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO videos (id, creator_id, title, status, progress, duration_ms, \
             source_size, source_sha256, created_at, updated_at, ready_at) \
             VALUES ($1, $2, $3, 'ready', 1, $4, 0, $5, 0, $6, $6)",
        )
        .bind(video_id(video))
        .bind(&creator)
        .bind(video)
        .bind((duration > 0).then_some(duration))
        .bind(video)
        .bind(ready_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `(score, liked)` of one viewer's held-out clips.
type Scored = Vec<(f64, bool)>;

/// Area under the ROC curve of `scores` (label true = liked); ties count half.
fn auc(scored: &[(f64, bool)]) -> Option<f64> {
    let pos: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (pos.len() * neg.len()) as f64)
}

fn ndcg_at_10(scored: &[(f64, bool)]) -> Option<f64> {
    let liked = scored.iter().filter(|s| s.1).count();
    if liked == 0 {
        return None;
    }
    let mut ranked = scored.to_vec();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, s)| s.1)
        .map(|(i, _)| gain(i))
        .sum();
    let ideal: f64 = (0..liked.min(10)).map(gain).sum();
    Some(dcg / ideal)
}

/// One method's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    pub method: &'static str,
    pub gauc: f64,
    pub ndcg10: f64,
    pub coverage: f64,
}

pub struct Report {
    pub train: usize,
    pub test: usize,
    pub users: usize,
    pub gauc_users: usize,
    pub clips: usize,
    pub methods: Vec<Figures>,
}

pub async fn kuairand(data: &Path, cfg: &RankConfig) -> anyhow::Result<Report> {
    let path = if data.is_dir() {
        data.join("interactions.tsv")
    } else {
        data.to_path_buf()
    };
    let rows = load(&path)?;
    anyhow::ensure!(rows.len() >= 10, "{} has too few rows", path.display());
    let cut = rows.len() * 8 / 10;
    let (train, test) = rows.split_at(cut);
    let now = test[0].at;

    let scratch = tempfile::tempdir()?;
    let db = Db::connect(&Db::sqlite_url_in(scratch.path())).await?;
    db.migrate().await?;
    insert_clips(&db, &rows, now).await?;

    // Replay: consecutive interactions of one viewer go in one batch, as a client sends them.
    let priors = Priors::default();
    let empty = HashMap::new();
    let mut i = 0;
    while i < train.len() {
        let user = &train[i].user;
        let mut batch = Vec::new();
        while i < train.len() && &train[i].user == user && batch.len() < 500 {
            batch.extend(events(&train[i]));
            i += 1;
        }
        let viewer = format!("acc_viewer{user}");
        let mut tx = db.begin().await?;
        let rows = store::read_viewer(&mut tx, &viewer, &store::clips_of(&batch)).await?;
        let batch = store::Batch {
            viewer: &viewer,
            events: &batch,
            categories: &empty,
            now,
        };
        store::apply(&mut tx, cfg, batch, rows).await?;
        tx.commit().await?;
        // Counts are queued by `apply`; folding each batch judges the traffic-pool stages at
        // the batch that finished them, as the live system does within seconds.
        store::fold_counts(&db, cfg, &priors, usize::MAX).await?;
    }

    let histories = store::histories(&db, 0, 30).await?;
    let neighbours = Arc::new(catalog::neighbours(&histories, catalog::NEIGHBOURS_KEPT));
    let clips = store::all_clips(&db)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect();
    let catalog = Catalog::build(clips, neighbours, cfg, now);

    let mut popularity: HashMap<&str, usize> = HashMap::new();
    for r in train {
        *popularity.entry(r.video.as_str()).or_default() += 1;
    }
    let mut by_popularity: Vec<&str> = catalog
        .clips
        .iter()
        .map(|c| c.id.trim_start_matches("vid_kuairand"))
        .collect();
    by_popularity.sort_by_key(|v| {
        (
            std::cmp::Reverse(popularity.get(v).copied().unwrap_or(0)),
            *v,
        )
    });

    let mut held_out: HashMap<&str, Vec<&Row>> = HashMap::new();
    for r in test {
        held_out.entry(r.user.as_str()).or_default().push(r);
    }
    let mut users: Vec<&str> = held_out.keys().copied().collect();
    users.sort_unstable();
    let mut seen_in_train: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in train {
        seen_in_train.entry(&r.user).or_default().insert(&r.video);
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut scores: [Vec<(usize, Scored)>; 3] = Default::default();
    let mut covered: [HashSet<String>; 3] = Default::default();
    for user in &users {
        let viewer = format!("acc_viewer{user}");
        let state = store::viewer_state(&db, cfg, &viewer, now).await?;
        let co = catalog.co_engagement(&state.positives);
        let items = &held_out[user];
        let mut per = [Vec::new(), Vec::new(), Vec::new()];
        for r in items {
            let liked = r.liked;
            per[0].push((rand::Rng::gen::<f64>(&mut rng), liked));
            per[1].push((
                popularity.get(r.video.as_str()).copied().unwrap_or(0) as f64,
                liked,
            ));
            let vitrine = match catalog.index(&video_id(&r.video)) {
                Some(i) => catalog.score(cfg, i, &state.viewer, &co, now).total,
                None => f64::MIN,
            };
            per[2].push((vitrine, liked));
        }
        for (m, s) in per.into_iter().enumerate() {
            scores[m].push((items.len(), s));
        }

        // What each method would put at the top of this viewer's feed.
        let seen = seen_in_train.get(user).cloned().unwrap_or_default();
        let mut unseen: Vec<&str> = by_popularity
            .iter()
            .copied()
            .filter(|v| !seen.contains(v))
            .collect();
        covered[1].extend(unseen.iter().take(10).map(|v| v.to_string()));
        unseen.shuffle(&mut rng);
        covered[0].extend(unseen.iter().take(10).map(|v| v.to_string()));
        let picks = catalog::recommend(
            &catalog,
            cfg,
            &state,
            u64::from(catalog::fingerprint(&viewer)),
            &HashSet::new(),
            &mut PageState::default(),
            10,
            now,
        );
        covered[2].extend(picks.iter().map(|p| {
            catalog.clips[p.scored.clip]
                .id
                .trim_start_matches("vid_kuairand")
                .to_string()
        }));
    }

    let mut gauc_users = 0;
    let methods = ["random", "popularity", "vitrine"]
        .into_iter()
        .enumerate()
        .map(|(m, method)| {
            let (mut weighted, mut weight) = (0.0, 0.0);
            let (mut ndcg, mut ndcg_users) = (0.0, 0);
            gauc_users = 0;
            for (n, s) in &scores[m] {
                if let Some(a) = auc(s) {
                    weighted += a * *n as f64;
                    weight += *n as f64;
                    gauc_users += 1;
                }
                if let Some(g) = ndcg_at_10(s) {
                    ndcg += g;
                    ndcg_users += 1;
                }
            }
            Figures {
                method,
                gauc: weighted / weight.max(1.0),
                ndcg10: ndcg / f64::from(ndcg_users.max(1)),
                coverage: covered[m].len() as f64 / catalog.clips.len().max(1) as f64,
            }
        })
        .collect();
    db.close().await;
    Ok(Report {
        train: train.len(),
        test: test.len(),
        users: users.len(),
        gauc_users,
        clips: catalog.clips.len(),
        methods,
    })
}

pub fn print(report: &Report) {
    println!(
        "KuaiRand: {} interactions replayed (first 80% by time), {} held out, {} viewers \
         ({} with liked and hated clips for GAUC), {} clips",
        report.train, report.test, report.users, report.gauc_users, report.clips
    );
    println!("| method     | GAUC   | NDCG@10 | coverage |");
    println!("|------------|--------|---------|----------|");
    for f in &report.methods {
        println!(
            "| {:<10} | {:.4} | {:.4}  | {:>7.2}% |",
            f.method,
            f.gauc,
            f.ndcg10,
            f.coverage * 100.0
        );
    }
}
