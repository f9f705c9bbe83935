//! One database handle for both backends.
//!
//! SQLite (a file in the data directory) is the embedded default; PostgreSQL is used when the URL
//! says `postgres://`. Queries go through sqlx's `Any` driver with `$N` placeholders, which both
//! backends accept, and the schema in `core/migrations` uses only portable types — so there is one
//! copy of every statement. The only backend-specific SQL is named here (`skip_locked`,
//! `now_ms_sql`).

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    AnyPool, Executor,
};

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn placeholder_list(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2, …), (…)` for a multi-row `VALUES` of `rows` rows of `cols` columns, numbered from
/// `$first`.
pub fn placeholder_rows(rows: usize, cols: usize, first: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholder_list(cols, first + r * cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). For SQLite the file is created if
    /// missing and put in WAL mode so the API and the worker threads can write concurrently.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported DATABASE_URL {url:?}: use sqlite://PATH or postgres://…");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.max_connections(8).after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers proceed while one writer commits; busy_timeout makes
                    // a second writer wait instead of failing with SQLITE_BUSY.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // 32 MiB of page cache per connection (SQLite's default is 2 MiB): the
                    // feed's tables and indexes are read and written on every event batch.
                    conn.execute("PRAGMA cache_size = -32768").await?;
                    Ok(())
                })
            });
        } else {
            options = options.max_connections(16);
        }
        let pool = options
            .connect(&url)
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        Ok(Db { pool, backend })
    }

    /// The embedded default: `DATA_DIR/vitrine.db`.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("vitrine.db").display())
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Refreshes the query planner's statistics. SQLite has none until `ANALYZE` runs, and
    /// without them it can pick a plan that scans a whole table (measured: the feed's tag lookup
    /// read every tag through the products index, 12 ms instead of 0.1 ms, at 10,000 tags);
    /// sampling at most 1000 rows per index keeps it to milliseconds. PostgreSQL's autovacuum
    /// keeps its own statistics.
    pub async fn optimize(&self) -> anyhow::Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await?;
            conn.execute("PRAGMA analysis_limit = 1000").await?;
            conn.execute("ANALYZE").await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }

    /// Row-locking suffix for "take the next free row" queries: many workers on many machines
    /// share one PostgreSQL queue without blocking on each other's leased rows. SQLite has a
    /// single writer, so the statement is already exclusive there.
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// SQL expression for "now" in Unix milliseconds, read from the database server's clock.
    /// Lease deadlines are compared across machines, so they must come from one clock, not
    /// from each worker's own.
    pub fn now_ms_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => anyhow::bail!("unknown backend {other}"),
        }
    }
}

/// Hides a password in a database URL before it reaches a log line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
