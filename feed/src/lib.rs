//! The viewer feed: `ready` clips with their live product tags.
//!
//! Ranking here is plain recency (newest ready first) with an opaque keyset cursor, so paging is
//! stable while new clips arrive; the Douyin-style ranker replaces `rank` in a later issue. The
//! feed only reads: it never writes videos, products or tags.

pub mod cursor;
pub mod http;

pub use http::router;
