//! The `vitrine` binary's library half: the tooling its subcommands run (benchmarks, `eval
//! kuairand`, `seed`, the upload client) over the server crate (`vitrine_server`), whose modules
//! are re-exported here so `vitrine::Application` and `vitrine::config` read as before.
//! `main.rs` only parses the command line.

pub use vitrine_server::{
    admission, app, config, identity, media, observability, openapi, server, videos, web,
    Application, Config, Role,
};

pub mod bench;
pub mod bench_feed;
pub mod bench_upload;
pub mod chaos;
pub mod client;
pub mod eval;
pub mod seed;
