//! The domain plumbing every Vitrine crate shares: the database handle (SQLite or PostgreSQL
//! behind one `Db`), typed ids, money, and the `videos` table that
//! ingest writes, the transcode worker advances and the feed reads.
//!
//! **Architecture invariant:** nothing here knows HTTP; that edge is `vitrine-api`.

pub mod changes;
pub mod db;
pub mod ids;
pub mod limits;
pub mod money;
pub mod time;
pub mod videos;

pub use db::Db;
