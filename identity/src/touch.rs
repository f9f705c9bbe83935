//! "Last used" times of sessions and API keys, written at most once a minute per credential and
//! process, off the request's path. Without the in-process memory, every request on a session
//! last touched over a minute ago would spawn a write until one of them committed: a page
//! firing several calls at once, or a load test on one session, made bursts of writes that
//! queued behind SQLite's single writer.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use vitrine_core::db::Db;

use crate::sessions::TOUCH_EVERY_MS;

/// Credential → when this process last wrote its use.
static WRITTEN: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Default::default);
/// Past this many, the memory starts over (a write per credential at worst).
const REMEMBERED: usize = 100_000;

/// Records that `id` (a session or key id) was used at `now`, in `table`'s `last_used_at`, if
/// neither the row (`last_used`) nor this process says it was within the last minute.
pub(crate) fn used(db: &Db, table: &'static str, id: &str, last_used: Option<i64>, now: i64) {
    if last_used.is_some_and(|at| now - at < TOUCH_EVERY_MS) {
        return;
    }
    {
        let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
        if written.get(id).is_some_and(|at| now - at < TOUCH_EVERY_MS) {
            return;
        }
        if written.len() >= REMEMBERED {
            written.clear();
        }
        written.insert(id.to_owned(), now);
    }
    let (db, id) = (db.clone(), id.to_owned());
    tokio::spawn(async move {
        // Through the writer (SQLite: the one write connection) rather than a reader that would
        // wait in the busy handler.
        let written = async {
            let mut tx = db.begin().await?;
            sqlx::query(&format!(
                "UPDATE {table} SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $1)"
            ))
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, table, "recording a credential's use failed");
        }
    });
}
