//! Ingest: the HTTP upload API.
//!
//! Two ways in. The one-request upload (`POST /v1/videos`) streams the body to a spool file
//! (never held in memory) while it is hashed and its size checked. Resumable uploads (tus 1.0 at
//! `/v1/uploads`, [`tus`]) append pieces durably to the object store and record each new offset
//! after it ([`uploads`]). Either way the finished file is probed with GStreamer and the video
//! row and its transcode job are written in one transaction ([`upload`], [`finish`]), so a queued
//! video always has a job and a job always has its original. [`sweep`] reclaims expired uploads
//! and finishes any whose last request died.

pub mod codes;
pub mod finish;
pub mod gc;
pub mod http;
pub mod quota;
pub mod spool;
pub mod sweep;
pub mod tus;
pub mod upload;
pub mod uploads;

pub use http::router;
