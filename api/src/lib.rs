//! The HTTP edge shared by the service routers (`ingest`, `shop`, `feed`): the application
//! state, the extractors (bearer auth, JSON and query parsing in our error format), the one
//! error-to-response mapping, and the public JSON views returned by more than one service.
//!
//! **Architecture invariant:** the domain crates below (`core`, `assets`, `transcode`) never
//! depend on this crate: HTTP stops here.

pub mod codes;
pub mod error;
pub mod extract;
pub mod rate;
pub mod state;
pub mod views;

pub use error::{ApiError, ApiResult};
pub use state::AppState;
