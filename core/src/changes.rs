//! Change generations: how a process knows that what it keeps in memory from the database may
//! be stale, without asking the database on every request.
//!
//! Each [`Topic`] has a generation number in the [`Db`] handle. A cache entry remembers the
//! generation it was read at and is used only while that is still the current one. The number
//! moves two ways:
//! - **this process's writes**: the repository functions that write a topic's tables call
//!   [`Db::changed`] right after the statement, so a request sees its own process's writes on
//!   the next read;
//! - **every process's writes**: triggers on those tables (installed by [`install`], after the
//!   migrations) announce each committed change — SQLite: a counter row per topic in
//!   `change_stamps`, which [`watch`] reads every `POLL`; PostgreSQL: a `NOTIFY
//!   vitrine_changes` that [`watch`] listens for (delivered at commit, taking no row lock). So
//!   another process's write reaches this process's caches within about `POLL`.
//!
//! A missed local call costs freshness (up to `POLL`), never correctness beyond that; losing
//! the PostgreSQL listener or failing to poll moves every generation, so nothing stale survives.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sqlx::{Executor, Row};
use tokio_util::sync::CancellationToken;

use crate::db::{Backend, Db};

/// What a cache depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// What a clip shows a viewer: its video row, its tags, their products, variants, pictures
    /// and shops, and the accounts behind them (a suspended shop owner's tags disappear).
    Showcase,
    /// Who a token belongs to: sessions, accounts, API keys, shop memberships.
    Identity,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::Showcase, Topic::Identity];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Showcase => "showcase",
            Topic::Identity => "identity",
        }
    }

    fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The tables whose writes move this topic, and which writes.
    fn sources(self) -> &'static [(&'static str, Writes)] {
        match self {
            Topic::Showcase => &[
                ("videos", Writes::All),
                ("products", Writes::All),
                ("product_variants", Writes::All),
                ("product_images", Writes::All),
                ("tags", Writes::All),
                ("shops", Writes::All),
                ("accounts", Writes::UpdateDelete),
            ],
            Topic::Identity => &[
                ("accounts", Writes::UpdateDelete),
                // A shop's key stops working when its maker leaves the shop.
                ("shop_members", Writes::UpdateDelete),
                // Not `last_used_at`, which every credential's use touches once a minute.
                ("sessions", Writes::Ended),
                ("api_keys", Writes::Revoked),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Writes {
    All,
    UpdateDelete,
    /// Updates of `ended_at`, and deletes.
    Ended,
    /// Updates of `revoked_at`, and deletes.
    Revoked,
}

impl Writes {
    /// `(trigger name suffix, SQL event)` pairs.
    fn events(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Writes::All => &[("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE")],
            Writes::UpdateDelete => &[("upd", "UPDATE"), ("del", "DELETE")],
            Writes::Ended => &[("upd", "UPDATE OF ended_at"), ("del", "DELETE")],
            Writes::Revoked => &[("upd", "UPDATE OF revoked_at"), ("del", "DELETE")],
        }
    }
}

/// Every topic's generation in this process (one per [`Db`] handle and its clones).
#[derive(Debug, Default)]
pub struct Generations {
    showcase: AtomicU64,
    identity: AtomicU64,
}

impl Generations {
    fn cell(&self, topic: Topic) -> &AtomicU64 {
        match topic {
            Topic::Showcase => &self.showcase,
            Topic::Identity => &self.identity,
        }
    }

    /// The current generation of `topic`: read it *before* reading what will be cached.
    pub fn current(&self, topic: Topic) -> u64 {
        self.cell(topic).load(Ordering::Acquire)
    }

    pub fn bump(&self, topic: Topic) {
        self.cell(topic).fetch_add(1, Ordering::AcqRel);
    }

    fn bump_all(&self) {
        for topic in Topic::ALL {
            self.bump(topic);
        }
    }
}

/// How often SQLite's counters are read.
const POLL: Duration = Duration::from_millis(250);
/// PostgreSQL's notification channel.
const CHANNEL: &str = "vitrine_changes";

/// Every trigger either backend installs: `(name, topic, table, SQL event)`.
fn triggers() -> impl Iterator<Item = (String, &'static str, &'static str, &'static str)> {
    Topic::ALL.into_iter().flat_map(|topic| {
        let t = topic.as_str();
        topic.sources().iter().flat_map(move |(table, writes)| {
            writes.events().iter().map(move |(suffix, event)| {
                (format!("changes_{t}_{table}_{suffix}"), t, *table, *event)
            })
        })
    })
}

/// Creates the triggers (idempotent; run after the migrations by [`Db::migrate`]).
pub(crate) async fn install(db: &Db) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    db.lock_exclusive(&mut tx, 0x0043_4841_4e47_4553).await?;
    match db.backend() {
        Backend::Sqlite => {
            tx.execute(
                "CREATE TABLE IF NOT EXISTS change_stamps \
                 (topic TEXT PRIMARY KEY, n BIGINT NOT NULL)",
            )
            .await?;
            for topic in Topic::ALL {
                sqlx::query("INSERT OR IGNORE INTO change_stamps (topic, n) VALUES ($1, 0)")
                    .bind(topic.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            for (name, t, table, event) in triggers() {
                tx.execute(
                    format!(
                        "CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} BEGIN \
                         UPDATE change_stamps SET n = n + 1 WHERE topic = '{t}'; END"
                    )
                    .as_str(),
                )
                .await?;
            }
        }
        Backend::Postgres => {
            tx.execute(
                "CREATE OR REPLACE FUNCTION vitrine_announce_change() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                 PERFORM pg_notify('vitrine_changes', TG_ARGV[0]); RETURN NULL; END $$",
            )
            .await?;
            for (name, t, table, event) in triggers() {
                // One notification per statement; PostgreSQL folds identical ones within a
                // transaction.
                tx.execute(
                    format!(
                        "CREATE OR REPLACE TRIGGER {name} AFTER {event} ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION vitrine_announce_change('{t}')"
                    )
                    .as_str(),
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Moves this process's generations when any process changes a topic, until `shutdown`.
pub async fn watch(db: Db, shutdown: CancellationToken) {
    match db.backend() {
        Backend::Sqlite => poll(db, shutdown).await,
        Backend::Postgres => listen(db, shutdown).await,
    }
}

async fn poll(db: Db, shutdown: CancellationToken) {
    let mut seen: Vec<(Topic, i64)> = Vec::new();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
        let read = sqlx::query("SELECT topic, n FROM change_stamps")
            .fetch_all(db.pool())
            .await;
        let rows = match read {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the change stamps failed; dropping caches");
                db.generations().bump_all();
                seen.clear();
                continue;
            }
        };
        for row in rows {
            let (Ok(topic), Ok(n)) = (row.try_get::<String, _>(0), row.try_get::<i64, _>(1)) else {
                continue;
            };
            let Some(topic) = Topic::parse(&topic) else {
                continue;
            };
            match seen.iter_mut().find(|(t, _)| *t == topic) {
                Some((_, last)) if *last == n => {}
                Some((_, last)) => {
                    *last = n;
                    db.generations().bump(topic);
                }
                // The first reading: whatever this process kept before it may be stale.
                None => {
                    seen.push((topic, n));
                    db.generations().bump(topic);
                }
            }
        }
    }
}

async fn listen(db: Db, shutdown: CancellationToken) {
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect(db.url()).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            l = listener => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for changes failed; retrying");
                    db.generations().bump_all();
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            },
        };
        // Whatever changed before the listener was up.
        db.generations().bump_all();
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(note)) => match Topic::parse(note.payload()) {
                    Some(topic) => db.generations().bump(topic),
                    None => db.generations().bump_all(),
                },
                // The connection dropped (notifications may be lost) or failed.
                Ok(None) => db.generations().bump_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "the change listener failed; reconnecting");
                    db.generations().bump_all();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait_for(what: impl Fn() -> bool) -> bool {
        for _ in 0..40 {
            if what() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Two handles on one SQLite file are two processes: what one writes moves the other's
    /// generations, topic by topic, through the triggers and the poll.
    #[tokio::test]
    async fn another_processs_writes_move_this_processs_generations() {
        let dir = tempfile::tempdir().unwrap();
        let url = Db::sqlite_url_in(dir.path());
        let here = Db::connect(&url).await.unwrap();
        here.migrate().await.unwrap();
        let there = Db::connect(&url).await.unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(watch(here.clone(), shutdown.clone()));
        tokio::time::sleep(POLL * 2).await;
        let now = |t: Topic| here.generations().current(t);
        let (showcase, identity) = (now(Topic::Showcase), now(Topic::Identity));

        sqlx::query(
            "INSERT INTO accounts (id, role, name, token_hash, created_at) \
             VALUES ('acc_1', 'user', 'Ana', 'h', 0)",
        )
        .execute(there.pool())
        .await
        .unwrap();
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(
            (now(Topic::Showcase), now(Topic::Identity)),
            (showcase, identity),
            "a new account changes nothing anyone keeps"
        );

        sqlx::query("UPDATE accounts SET suspended_at = 1 WHERE id = 'acc_1'")
            .execute(there.pool())
            .await
            .unwrap();
        assert!(wait_for(|| now(Topic::Identity) > identity).await);
        assert!(wait_for(|| now(Topic::Showcase) > showcase).await);

        let showcase = now(Topic::Showcase);
        let identity = now(Topic::Identity);
        sqlx::query(
            "INSERT INTO videos (id, creator_id, title, status, source_size, source_sha256, \
             created_at, updated_at) VALUES ('vid_1', 'acc_1', 'x', 'ready', 1, 's', 0, 0)",
        )
        .execute(there.pool())
        .await
        .unwrap();
        assert!(wait_for(|| now(Topic::Showcase) > showcase).await);
        assert_eq!(now(Topic::Identity), identity, "a video is not an identity");
        shutdown.cancel();
    }

    /// This process's own writes move its generation without waiting for the poll.
    #[tokio::test]
    async fn this_processs_writes_move_its_generation_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&Db::sqlite_url_in(dir.path())).await.unwrap();
        let before = db.generations().current(Topic::Showcase);
        db.changed(Topic::Showcase);
        assert_eq!(db.generations().current(Topic::Showcase), before + 1);
        assert_eq!(
            db.clone().generations().current(Topic::Showcase),
            before + 1
        );
    }
}
