//! The viewer feed: `ready` clips with their live product tags.
//!
//! Ranking here is plain recency (newest ready first) with an opaque keyset cursor, so paging is
//! stable while new clips arrive; the Douyin-style ranker replaces `rank` in a later issue. The
//! feed never writes videos, products or tags; it owns the `events` table (`POST /v1/events`)
//! and hands impressions and product clicks to the shop through the shop's API.

pub mod cursor;
pub mod events;
pub mod http;

pub use http::router;
