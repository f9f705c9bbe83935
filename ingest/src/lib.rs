//! Ingest: the HTTP upload API.
//!
//! An upload is streamed to a spool file (never held in memory) while it is hashed and its size
//! checked, probed with GStreamer, stored as the original through `assets`, and then recorded —
//! the video row and its transcode job are written in one transaction, so a queued video always
//! has a job and a job always has its original.

pub mod http;
pub mod spool;
pub mod upload;

pub use http::router;
