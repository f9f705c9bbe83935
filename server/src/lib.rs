//! The Vitrine server: the typed configuration, the wiring (database, store, routers merged with
//! their OpenAPI, the worker, graceful shutdown), hyper's accept loop with its timeouts and the
//! admission middleware, the identity routes, the video object's read routes, media and the web
//! pages. The `vitrine` binary (the root package) runs it, next to its tooling (benchmarks,
//! `eval`, `seed`, the upload client), which this crate does not contain.

pub mod admission;
pub mod app;
pub mod config;
pub mod identity;
pub mod media;
pub mod observability;
pub mod openapi;
pub mod server;
pub mod videos;
pub mod web;

pub use app::{Application, Role};
pub use config::Config;
