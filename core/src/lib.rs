//! Plumbing shared by every Vitrine service crate: the database handle (SQLite or PostgreSQL
//! behind one `Db`), typed ids, accounts and bearer-token auth, the API error type with its one
//! error-to-response mapping, the shared HTTP state and extractors, and the `videos` table that
//! ingest writes, the transcode worker advances and the feed reads.

pub mod accounts;
pub mod db;
pub mod error;
pub mod http;
pub mod ids;
pub mod time;
pub mod videos;
pub mod views;

pub use db::Db;
pub use error::{ApiError, ApiResult};
pub use http::AppState;
