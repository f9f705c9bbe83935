//! One database handle for both backends.
//!
//! SQLite (a file in the data directory) is the embedded default; PostgreSQL is used when the URL
//! says `postgres://`. Queries go through sqlx's `Any` driver with `$N` placeholders, which both
//! backends accept, and the schema in `core/migrations` uses only portable types — so there is one
//! copy of every statement. The only backend-specific SQL is named here (`skip_locked`,
//! `now_ms_sql`). Every statement reaches the database through this module's executors
//! (`exec`), which bind `$N` by position on SQLite.

pub mod column;
mod exec;

#[doc(hidden)]
pub use sqlx as __sqlx;

use std::{borrow::Cow, path::Path, str::FromStr, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    Executor,
};

use crate::changes::{Generations, Topic};

pub use exec::{Conn, Pool, PooledConn, Tx};

/// What separates the rows [`Backend::join_rows`] joins.
pub const ROW_SEPARATOR: char = '\u{1e}';

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn placeholder_list(n: usize, first: usize) -> String {
    let mut out = String::with_capacity(n * 8);
    push_placeholders(&mut out, n, first);
    out
}

/// `($1, $2, …), (…)` for a multi-row `VALUES` of `rows` rows of `cols` columns, numbered from
/// `$first`.
pub fn placeholder_rows(rows: usize, cols: usize, first: usize) -> String {
    // Written straight into one buffer: an event batch's statements hold some 25,000
    // placeholders, and a string per placeholder, joined, was a tenth of ingest's CPU.
    let mut out = String::with_capacity(rows * (cols * 8 + 4));
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        push_placeholders(&mut out, cols, first + r * cols);
        out.push(')');
    }
    out
}

fn push_placeholders(out: &mut String, n: usize, first: usize) {
    let mut digits = itoa::Buffer::new();
    for i in first..first + n {
        if i > first {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(digits.format(i));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection (or a transaction, through `&**tx`) talks to.
    pub fn of(conn: &Conn) -> Backend {
        conn.backend()
    }

    /// SQL for one text value joining `expr` over a group's rows, separated by the ASCII record
    /// separator (0x1E), NULL for none: how a many-row read comes back as one row. (SQLite's
    /// driver hands every row from its worker thread to the task reading it: a thread wake-up
    /// per row, most of the cost of reading a thousand.)
    pub fn join_rows(&self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("group_concat({expr}, char(30))"),
            Backend::Postgres => format!("string_agg({expr}, chr(30))"),
        }
    }

    /// SQL for a `DOUBLE PRECISION` expression as text that parses back to the same number
    /// (SQLite's own conversion keeps only 15 digits).
    pub fn real_text(&self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("printf('%!.17g', {expr})"),
            Backend::Postgres => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// `sql` as this backend binds it fastest. SQLite looks each `$N` up by name in a list
    /// when preparing and again when binding, so a statement's cost grows with the square of its
    /// parameters (measured: a tenth of event ingest at 900 parameters); anonymous `?` are bound
    /// by position. So for SQLite, `$1, $2, …` appearing once each and in order become `?`
    /// (outside quoted text). Statements that reuse or reorder their parameters, or have none,
    /// are returned unchanged. Every executor of this module applies it (`exec`).
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        // Comments could hold a lone quote: such statements are left as written.
        if *self != Backend::Sqlite
            || !sql.contains('$')
            || sql.contains("--")
            || sql.contains("/*")
        {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len());
        let mut expected = 1usize;
        let mut quote: Option<char> = None;
        let mut chars = sql.char_indices();
        while let Some((at, c)) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '$') => {
                    let digits = sql[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
                    match sql[at + 1..at + 1 + digits].parse::<usize>() {
                        Ok(n) if n == expected => expected += 1,
                        _ => return Cow::Borrowed(sql),
                    }
                    out.push('?');
                    for _ in 0..digits {
                        chars.next();
                    }
                    continue;
                }
                (None, _) => {}
            }
            out.push(c);
        }
        if expected == 1 {
            return Cow::Borrowed(sql);
        }
        Cow::Owned(out)
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// SQLite: the one connection write transactions use (`begin`). PostgreSQL: none, `pool`
    /// serves both.
    writer: Option<Pool>,
    backend: Backend,
    url: Url,
    /// What this process's caches of the database are valid for (see `changes`).
    generations: Arc<Generations>,
}

/// A connection URL that prints with its password hidden.
#[derive(Clone)]
struct Url(String);

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// How long a request waits for a PostgreSQL connection before it is refused as unavailable.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite page cache per reader connection, KiB.
const READER_CACHE_KIB: i64 = 16 * 1024;
/// SQLite page cache of the writer connection, KiB: the feed's per-clip and per-viewer tables
/// are written on every event batch.
const WRITER_CACHE_KIB: i64 = 128 * 1024;
/// SQLite memory map, bytes: reads come from the OS page cache without a copy or a system call.
const MMAP_BYTES: i64 = 1 << 30;
/// WAL size (pages) at which the writer checkpoints by itself; `checkpoint` normally runs long
/// before, off the write path.
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_384;

/// SQLite reuses its write-ahead log from the start once a checkpoint has copied it back, but
/// keeps the file at its largest size unless told otherwise (117 MB after a million-event
/// ingest): the writer cuts it back to this when the log restarts.
const WAL_LIMIT_BYTES: i64 = 64 << 20;

fn sqlite_options(connections: u32, cache_kib: i64, writer: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .max_connections(connections)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // WAL lets readers proceed while the writer commits; busy_timeout makes a
                // writer outside the write connection wait instead of failing with SQLITE_BUSY.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute(format!("PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}").as_str())
                    .await?;
                conn.execute(format!("PRAGMA cache_size = -{cache_kib}").as_str())
                    .await?;
                conn.execute(format!("PRAGMA mmap_size = {MMAP_BYTES}").as_str())
                    .await?;
                if writer {
                    let pages = WRITER_AUTOCHECKPOINT_PAGES;
                    conn.execute(format!("PRAGMA wal_autocheckpoint = {pages}").as_str())
                        .await?;
                }
                Ok(())
            })
        })
}

/// SQLite's process-wide settings, made once before this process opens its first SQLite
/// connection. `MEMSTATUS` off: by default SQLite counts every allocation under one global
/// mutex, and with a connection per thread (sqlx runs each on its own) the threads queue for
/// it (measured: a tenth of event ingest's CPU was threads sleeping and waking on that mutex).
fn sqlite_global_config() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` must not run concurrently with other SQLite calls, nor after
        // SQLite initialised; every SQLite connection of this process is opened by
        // `Db::connect`, after this. Were SQLite already initialised, the call would return
        // SQLITE_MISUSE and change nothing (the counting mutex stays: slower, still correct).
        let rc =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(rc, "SQLite's allocation counting could not be turned off");
        }
    });
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
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                sqlite_global_config();
                // Readers: each connection's page cache is dropped whenever another connection
                // commits (WAL), so reads lean on the memory map instead.
                let pool = sqlite_options(8, READER_CACHE_KIB, false)
                    .connect(&url)
                    .await;
                // One writer connection. SQLite runs one write transaction at a time anyway;
                // queueing for this connection in the pool is fair and wakes the next writer
                // at once, where competing connections sleep in SQLite's busy handler (up to
                // 100 ms a turn: measured, most of event ingest's time under 8 clients). And a
                // connection that is the only writer keeps its page cache between transactions.
                let writer = sqlite_options(1, WRITER_CACHE_KIB, true)
                    .connect(&url)
                    .await;
                (pool, Some(writer))
            }
            Backend::Postgres => (
                AnyPoolOptions::new()
                    // While the server restarts or fails over, a request waits this long for it
                    // (the pool retries refused connections), then answers 503 `unavailable`
                    // with `Retry-After`, rather than holding the client for half a minute.
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .max_connections(16)
                    .connect(&url)
                    .await,
                None,
            ),
        };
        let context = || format!("connecting to {}", redact(&url));
        let pool = Pool::new(pool.with_context(context)?, backend);
        let writer = writer
            .transpose()
            .with_context(context)?
            .map(|writer| Pool::new(writer, backend));
        Ok(Db {
            pool,
            writer,
            backend,
            url: Url(url),
            generations: Arc::default(),
        })
    }

    /// The embedded default: `DATA_DIR/vitrine.db`.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("vitrine.db").display())
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.apply(&MIGRATOR)
            .await
            .context("applying database migrations")?;
        crate::changes::install(self)
            .await
            .context("installing the change triggers")
    }

    /// Applies `migrator`'s migrations not yet applied (`migrate` applies all of this crate's;
    /// a test can apply the schema as an earlier version left it).
    pub async fn apply(&self, migrator: &sqlx::migrate::Migrator) -> sqlx::Result<()> {
        migrator.run(self.pool.raw()).await.map_err(Into::into)
    }

    /// This process's generation of each cached topic (`changes`).
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// Records that this process just wrote `topic`'s tables: its caches of them are stale.
    pub fn changed(&self, topic: Topic) {
        self.generations.bump(topic);
    }

    /// The URL this handle connected to (with its password: never log it, see `redact`).
    pub(crate) fn url(&self) -> &str {
        &self.url.0
    }

    /// Refreshes the query planner's statistics. SQLite has none until `ANALYZE` runs, and
    /// without them it can pick a plan that scans a whole table (measured: the feed's tag lookup
    /// read every tag through the products index, 12 ms instead of 0.1 ms, at 10,000 tags);
    /// sampling at most 1000 rows per index keeps it to milliseconds. PostgreSQL's autovacuum
    /// keeps its own statistics.
    pub async fn optimize(&self) -> anyhow::Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.writer.as_ref().unwrap_or(&self.pool).acquire().await?;
            conn.execute("PRAGMA analysis_limit = 1000").await?;
            conn.execute("ANALYZE").await?;
        }
        Ok(())
    }

    /// SQLite: copies what the write-ahead log holds back into the database file, without
    /// waiting for readers or blocking the writer (`PASSIVE`). Run in the background every
    /// second, so the writer never spends a write transaction's turn on it.
    pub async fn checkpoint(&self) -> sqlx::Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction. SQLite: on the one writer connection, holding the write lock from
    /// the start (`BEGIN IMMEDIATE`), so a transaction that reads before it writes never finds
    /// at its first write that another connection wrote in between (`SQLITE_BUSY_SNAPSHOT`).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await,
            None => self.pool.begin().await,
        }
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

    /// Row-locking suffix for "read this row, then decide what to write" inside a transaction
    /// (`begin`): PostgreSQL locks the rows read until the transaction ends; SQLite's write
    /// transactions already run one at a time.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// Makes `tx` the only holder of lock `key` until it ends: a one-time job (an upgrade that
    /// every process starting at once would run) runs in one of them, the others wait and then
    /// find nothing left to do. PostgreSQL: a transaction-scoped advisory lock; SQLite: write
    /// transactions (`begin`) already run one at a time.
    pub async fn lock_exclusive(&self, tx: &mut Tx, key: i64) -> sqlx::Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
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
        self.pool.raw().close().await;
        if let Some(writer) = &self.writer {
            writer.raw().close().await;
        }
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
pub fn redact(url: &str) -> String {
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
    use super::Backend;

    #[test]
    fn placeholders_number_rows_and_lists_from_the_first() {
        assert_eq!(super::placeholder_list(3, 2), "$2, $3, $4");
        assert_eq!(super::placeholder_list(0, 1), "");
        assert_eq!(
            super::placeholder_rows(2, 3, 1),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(super::placeholder_rows(1, 2, 9), "($9, $10)");
    }

    #[test]
    fn sqlite_gets_positional_parameters_only_when_they_are_in_order() {
        let sql = "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)";
        assert_eq!(
            Backend::Sqlite.sql(sql),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(Backend::Postgres.sql(sql), sql);
        for kept in [
            "SELECT $2, $1",
            "SELECT $1 WHERE x = $1",
            "SELECT $ 1",
            "SELECT 1",
        ] {
            assert_eq!(Backend::Sqlite.sql(kept), kept);
        }
        assert_eq!(
            Backend::Sqlite.sql(&format!(
                "SELECT * FROM t WHERE v = $1 AND id IN ({})",
                super::placeholder_list(3, 2)
            )),
            "SELECT * FROM t WHERE v = ? AND id IN (?, ?, ?)"
        );
        // Quoted text is text: a JSON path or a literal `$1` stays as written.
        assert_eq!(
            Backend::Sqlite.sql("SELECT json_extract(j, '$.a'), '$1' FROM t WHERE id = $1"),
            "SELECT json_extract(j, '$.a'), '$1' FROM t WHERE id = ?"
        );
        assert_eq!(
            Backend::Sqlite.sql("SELECT $1 -- it's one"),
            "SELECT $1 -- it's one"
        );
        assert!(matches!(
            Backend::Sqlite.sql("SELECT '$1'"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Every executor the handle gives out (the pool, a pooled connection, a transaction)
    /// runs rewritten statements with their arguments in place, and leaves the others alone.
    #[tokio::test]
    async fn every_executor_binds_rewritten_statements() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::Db::connect(&super::Db::sqlite_url_in(dir.path()))
            .await
            .unwrap();
        let sql = "SELECT '$1' || $1 || $2";
        let want = "$1ab".to_owned();
        let q = || sqlx::query_scalar::<_, String>(sql).bind("a").bind("b");
        assert_eq!(q().fetch_one(db.pool()).await.unwrap(), want);
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(q().fetch_one(&mut *conn).await.unwrap(), want);
        assert_eq!(q().fetch_all(&mut *conn).await.unwrap(), vec![want.clone()]);
        let mut tx = db.begin().await.unwrap();
        assert_eq!(q().fetch_optional(&mut *tx).await.unwrap(), Some(want));
        // Reordered parameters keep their names.
        let swapped: String = sqlx::query_scalar("SELECT $2 || $1")
            .bind("a")
            .bind("b")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(swapped, "ba");
        tx.commit().await.unwrap();
    }

    /// What `join_rows` and `real_text` return reads back exactly: every row, every bit of
    /// every number.
    #[tokio::test]
    async fn joined_rows_and_numbers_as_text_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::Db::connect(&super::Db::sqlite_url_in(dir.path()))
            .await
            .unwrap();
        let numbers = [0.1, 1.0 / 3.0, 0.5, 1.0, 123_456.789_012_345_67, 1e-9, 0.0];
        sqlx::query("CREATE TABLE n (x DOUBLE PRECISION NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        for x in numbers {
            sqlx::query("INSERT INTO n (x) VALUES ($1)")
                .bind(x)
                .execute(db.pool())
                .await
                .unwrap();
        }
        let b = db.backend();
        let joined: String =
            sqlx::query_scalar(&format!("SELECT {} FROM n", b.join_rows(&b.real_text("x"))))
                .fetch_one(db.pool())
                .await
                .unwrap();
        let mut back: Vec<f64> = joined
            .split(super::ROW_SEPARATOR)
            .map(|t| t.parse().unwrap())
            .collect();
        let mut want = numbers.to_vec();
        back.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{joined:?}"
        );
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
