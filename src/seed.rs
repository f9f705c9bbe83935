//! `vitrine seed`: a reproducible synthetic platform for benchmarks — creators, viewers,
//! merchants with categorised products, ready clips (a tenth of them selling a product) and a
//! history of viewer events, all drawn from one seeded generator.
//!
//! Accounts, products, clips and tags are written in bulk (they stand for what the upload and
//! shop APIs would have produced); the events go through the feed's own intake
//! (`vitrine_feed::events::ingest`), so the ranker's state is exactly what `POST /v1/events`
//! would have built. Seeded viewers have predictable ids and session tokens (`acc_` + 32 hex
//! digits of their number, `vt_seed_viewer_N`), and one operator has `vt_seed_operator` (the feed
//! benchmark asks for viewers' feeds as them): for benchmark data only. Sessions expire, so the
//! benchmark renews them (`renew_sessions`) before it runs.

use std::{collections::HashMap, time::Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;
use vitrine_core::{ids::AccountId, time::now_ms};

use crate::Application;

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 100_000)]
    pub videos: usize,
    #[arg(long, default_value_t = 20_000)]
    pub viewers: usize,
    #[arg(long, default_value_t = 2_000_000)]
    pub events: usize,
    /// The generator's seed: the same seed gives the same platform.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const CATEGORIES: usize = 20;
const MERCHANTS: usize = 50;
const PRODUCTS: usize = 1_000;
const DAY_MS: i64 = 24 * 3_600_000;

/// The id of seeded viewer `n`.
pub fn viewer_id(n: usize) -> String {
    format!("acc_{n:032x}")
}

fn creator_id(n: usize) -> String {
    format!("acc_{:032x}", (1u128 << 64) + n as u128)
}

fn merchant_id(n: usize) -> String {
    format!("acc_{:032x}", (2u128 << 64) + n as u128)
}

/// The shop of seeded merchant `n`.
fn shop_id(n: usize) -> String {
    format!("shp_{:032x}", (2u128 << 64) + n as u128)
}

/// The seeded operator's id and session token.
pub fn operator() -> (String, &'static str) {
    (format!("acc_{:032x}", 3u128 << 64), "vt_seed_operator")
}

/// How seeded sessions are told apart from people's.
const SEED_AGENT: &str = "vitrine seed";

/// Starts the seeded sessions' lifetimes again now (they expire like any session).
pub async fn renew_sessions(db: &vitrine_core::Db) -> anyhow::Result<u64> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE sessions SET created_at = $1, last_used_at = $1, ended_at = NULL \
         WHERE user_agent = $2",
    )
    .bind(now)
    .bind(SEED_AGENT)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// What one bulk row binds.
enum Cell {
    Text(String),
    Int(i64),
    Null,
}

async fn bulk(
    db: &vitrine_core::Db,
    head: &str,
    cols: usize,
    rows: Vec<Vec<Cell>>,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(500) {
        let sql = format!(
            "{head} VALUES {}",
            vitrine_core::db::placeholder_rows(chunk.len(), cols, 1)
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for cell in row {
                q = match cell {
                    Cell::Text(s) => q.bind(s.clone()),
                    Cell::Int(i) => q.bind(*i),
                    Cell::Null => q.bind(None::<String>),
                };
            }
        }
        q.execute(db.pool()).await?;
    }
    Ok(())
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what:>8} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub struct SeedReport {
    pub events_accepted: usize,
    pub ingest_seconds: f64,
}

/// What the first phase made that the second needs.
pub struct Platform {
    rng: StdRng,
    creators: usize,
    /// Clip number → its tag.
    tags: HashMap<usize, String>,
}

/// Phase one: accounts, products, clips and tags in bulk, then planner statistics.
///
/// Run phase two on a fresh connection pool: SQLite connections opened before `ANALYZE` keep
/// planning without the statistics.
pub async fn platform(app: &Application, args: &SeedArgs) -> anyhow::Result<Platform> {
    let db = &app.state().db;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = now_ms();
    let creators = (args.videos / 20).max(1);
    anyhow::ensure!(
        args.viewers >= 1 && args.videos >= 1,
        "need viewers and videos"
    );

    let account = |id: &str, role: &str, handle: Option<String>| {
        vec![
            Cell::Text(id.to_owned()),
            Cell::Text(role.into()),
            Cell::Text(id.to_owned()),
            Cell::Text(format!("none:{id}")),
            handle.map_or(Cell::Null, Cell::Text),
            Cell::Int(now),
        ]
    };
    let session = |id: &str, token: &str| {
        vec![
            Cell::Text(format!("ses_{}", &id[4..])),
            Cell::Text(id.to_owned()),
            Cell::Text(vitrine_identity::hash_secret(token)),
            Cell::Text(SEED_AGENT.into()),
            Cell::Int(now),
            Cell::Int(now),
        ]
    };
    let (operator_id, operator_token) = operator();
    let head = "INSERT INTO accounts (id, role, name, token_hash, handle, created_at)";
    let mut rows: Vec<Vec<Cell>> = (0..args.viewers)
        .map(|n| account(&viewer_id(n), "user", None))
        .collect();
    rows.extend(
        (0..creators).map(|n| account(&creator_id(n), "user", Some(format!("seed_creator_{n}")))),
    );
    rows.extend((0..MERCHANTS).map(|n| account(&merchant_id(n), "user", None)));
    rows.push(account(&operator_id, "admin", None));
    bulk(db, head, 6, rows).await.context("seeding accounts")?;
    let mut rows: Vec<Vec<Cell>> = (0..args.viewers)
        .map(|n| session(&viewer_id(n), &format!("vt_seed_viewer_{n}")))
        .collect();
    rows.push(session(&operator_id, operator_token));
    bulk(
        db,
        "INSERT INTO sessions (id, account_id, token_hash, user_agent, created_at, last_used_at)",
        6,
        rows,
    )
    .await
    .context("seeding sessions")?;
    let rows = (0..MERCHANTS)
        .map(|n| {
            vec![
                Cell::Text(shop_id(n)),
                Cell::Text(format!("Shop {n}")),
                Cell::Text(merchant_id(n)),
                Cell::Int(now),
                Cell::Int(now),
            ]
        })
        .collect();
    bulk(
        db,
        "INSERT INTO shops (id, name, owner_id, created_at, updated_at)",
        5,
        rows,
    )
    .await
    .context("seeding shops")?;
    let rows = (0..MERCHANTS)
        .map(|n| {
            vec![
                Cell::Text(shop_id(n)),
                Cell::Text(merchant_id(n)),
                Cell::Text("owner".into()),
                Cell::Int(now),
            ]
        })
        .collect();
    bulk(
        db,
        "INSERT INTO shop_members (shop_id, account_id, role, created_at)",
        4,
        rows,
    )
    .await
    .context("seeding shop members")?;

    let products: Vec<(String, usize)> = (0..PRODUCTS)
        .map(|n| (format!("prd_{n:032x}"), n % CATEGORIES))
        .collect();
    let rows = products
        .iter()
        .enumerate()
        .map(|(n, (id, category))| {
            vec![
                Cell::Text(id.clone()),
                Cell::Text(merchant_id(n % MERCHANTS)),
                Cell::Text(shop_id(n % MERCHANTS)),
                Cell::Text(format!("Product {n}")),
                Cell::Int(rng.gen_range(500..20_000)),
                Cell::Text("EUR".into()),
                Cell::Int(1_000_000),
                Cell::Int(1_000),
                Cell::Text(format!("category-{category:02}")),
                Cell::Int(now),
                Cell::Int(now),
            ]
        })
        .collect();
    bulk(
        db,
        "INSERT INTO products (id, merchant_id, shop_id, title, price_minor, currency, stock, \
         commission_bps, category, created_at, updated_at)",
        11,
        rows,
    )
    .await
    .context("seeding products")?;

    // Clips: creator n owns clips n, n + creators, …; ready over the last 30 days.
    let mut tags: HashMap<usize, String> = HashMap::new();
    let mut video_rows = Vec::with_capacity(args.videos);
    let mut tag_rows = Vec::new();
    for n in 0..args.videos {
        let creator = n % creators;
        let duration = rng.gen_range(5_000..60_000i64);
        let ready_at = now - rng.gen_range(0..30 * DAY_MS);
        let id = format!("vid_{n:032x}");
        video_rows.push(vec![
            Cell::Text(id.clone()),
            Cell::Text(creator_id(creator)),
            Cell::Text(format!("Clip {n}")),
            Cell::Int(duration),
            Cell::Text(format!("seed-{n}")),
            Cell::Int(ready_at),
            Cell::Text("ready".into()),
            Cell::Int(1),
            Cell::Int(0),
            Cell::Int(ready_at),
            Cell::Int(ready_at),
        ]);
        if rng.gen_bool(0.1) {
            let tag = format!("tag_{n:032x}");
            tag_rows.push(vec![
                Cell::Text(tag.clone()),
                Cell::Text(id),
                Cell::Text(products[rng.gen_range(0..PRODUCTS)].0.clone()),
                Cell::Text(creator_id(creator)),
                Cell::Int(0),
                Cell::Int(duration.min(5_000)),
                Cell::Int(now),
            ]);
            tags.insert(n, tag);
        }
    }
    bulk(
        db,
        "INSERT INTO videos (id, creator_id, title, duration_ms, source_sha256, ready_at, \
         status, progress, source_size, created_at, updated_at)",
        11,
        video_rows,
    )
    .await
    .context("seeding videos")?;
    bulk(
        db,
        "INSERT INTO tags (id, video_id, product_id, created_by, start_ms, end_ms, created_at)",
        7,
        tag_rows,
    )
    .await
    .context("seeding tags")?;

    db.optimize().await?;
    Ok(Platform {
        rng,
        creators,
        tags,
    })
}

/// Phase two: the event history, through the feed's intake.
pub async fn events(
    app: &Application,
    args: &SeedArgs,
    platform: Platform,
) -> anyhow::Result<SeedReport> {
    let Platform {
        mut rng,
        creators,
        tags,
    } = platform;
    let state = app.state();
    let db = &state.db;
    let now = now_ms();
    app.ranker()
        .refresh(db, vitrine_feed::ranker::Refresh::ALL)
        .await?;

    // Events: each viewer favours three creators and otherwise follows popularity (a power
    // law over clips); per clip shown, an impression and what they did with it.
    let per_viewer = (args.events / args.viewers).max(1);
    let bar = progress(args.events as u64, "events");
    let started = Instant::now();
    let mut accepted = 0;
    let mut sent = 0;
    for v in 0..args.viewers {
        if sent >= args.events {
            break;
        }
        let favourites: Vec<usize> = (0..3).map(|_| rng.gen_range(0..creators)).collect();
        let mut batch = Vec::with_capacity(per_viewer);
        let mut k = 0;
        while batch.len() < per_viewer.min(args.events - sent) {
            let clip = if rng.gen_bool(0.5) {
                let creator = favourites[rng.gen_range(0..3)];
                let owned = (args.videos - creator).div_ceil(creators);
                creator + creators * rng.gen_range(0..owned.max(1))
            } else {
                let u: f64 = rng.gen();
                ((u * u * u) * args.videos as f64) as usize
            }
            .min(args.videos - 1);
            let video = format!("vid_{clip:032x}");
            let duration = 30_000;
            let at = now - rng.gen_range(0..7 * DAY_MS);
            let mut push = |kind: &str, extra: serde_json::Value| {
                let mut e = json!({"id": format!("s{k}"), "viewer_id": viewer_id(v),
                                   "video_id": video, "type": kind,
                                   "at": at});
                if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
                    e.extend(extra.clone());
                }
                k += 1;
                batch.push(e);
            };
            push("impression", json!({}));
            let r: f64 = rng.gen();
            if r < 0.3 {
                push("complete", json!({"watch_ms": duration}));
            } else if r < 0.9 {
                push(
                    "progress",
                    json!({"watch_ms": rng.gen_range(1_000..duration)}),
                );
            }
            let r: f64 = rng.gen();
            if r < 0.08 {
                push("like", json!({}));
            } else if r < 0.09 {
                push("share", json!({}));
            } else if r < 0.11 {
                push("comment", json!({}));
            } else if r < 0.12 {
                push("follow", json!({}));
            } else if r < 0.14 {
                push("not_interested", json!({}));
            }
            if let Some(tag) = tags.get(&clip) {
                if rng.gen_bool(0.05) {
                    push("product_click", json!({"tag_id": tag}));
                }
            }
        }
        batch.truncate(per_viewer.min(args.events - sent));
        sent += batch.len();
        let viewer: AccountId = viewer_id(v).parse()?;
        let ranker = app.ranker();
        for chunk in batch.chunks(vitrine_feed::events::MAX_BATCH) {
            let result = vitrine_feed::events::ingest(&state.db, ranker, &viewer, chunk.to_vec())
                .await
                .context("ingesting the seeded events")?;
            accepted += result.accepted;
        }
        bar.set_position(sent as u64);
        if v % 200 == 199 {
            // What the serving processes' refresh loop does every 2 s.
            ranker.fold(db).await?;
        }
    }
    while app.ranker().fold(db).await? > 0 {}
    bar.finish_and_clear();
    let ingest_seconds = started.elapsed().as_secs_f64();
    Ok(SeedReport {
        events_accepted: accepted,
        ingest_seconds,
    })
}
