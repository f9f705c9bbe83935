//! The viewer feed: a Douyin-style ranker over ready clips, served with their live product tags.
//!
//! Shape (x-algorithm's): candidate sources → filter → score → select. `model` is the ranking
//! math without I/O (smoothed action rates, the score, traffic-pool promotion, page rules);
//! `catalog` is the in-memory view of every feedable clip and the candidate pipeline; `store`
//! keeps the ranker's state in the shared database; `ranker` refreshes the catalog; `page` makes
//! one page (whose feed, ranking, the clips as they are now, the cursor: `Ranker::page`);
//! `showcase` keeps what each clip shows (its row and live tags) between pages;
//! `events` is the intake (checks, stores and applies a viewer's batch); `http` is the edge
//! (`GET /v1/feed`, `POST /v1/events`, `FeedState`); `codes` names the error codes; `vitrine eval
//! kuairand` replays a real interaction log through the same code.
//!
//! The feed owns the `events` and `feed_*` tables and `follows`; it never writes videos,
//! products or tags, and hands impressions and product clicks to the shop through the shop's
//! API.

pub mod catalog;
pub mod codes;
pub mod config;
pub mod cursor;
pub mod events;
pub mod http;
pub mod model;
pub mod page;
pub mod ranker;
pub mod showcase;
pub mod store;

pub use config::RankConfig;
pub use http::router;
pub use ranker::Ranker;
