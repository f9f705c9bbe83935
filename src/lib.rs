//! The `vitrine` binary's library half: configuration, wiring (database, store, routers, worker)
//! and the upload client. `main.rs` only parses the command line.

pub mod admission;
pub mod app;
pub mod bench;
pub mod bench_feed;
pub mod bench_upload;
pub mod client;
pub mod config;
pub mod eval;
pub mod identity;
pub mod media;
pub mod observability;
pub mod openapi;
pub mod seed;
pub mod server;
pub mod videos;
pub mod web;

pub use app::{Application, Role};
pub use config::Config;
