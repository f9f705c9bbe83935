//! The background release of stock held by unpaid orders past their expiry, run by every API
//! process (an order moves out of `pending_payment` once, so two sweeps never release twice).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vitrine_core::db::Db;

use crate::orders;

/// Runs until `shutdown`: a round every `interval`.
pub async fn run(db: Db, interval: Duration, shutdown: CancellationToken) {
    loop {
        match orders::expire(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "unpaid orders expired; stock released"),
            Err(e) => tracing::warn!(error = %e, "order sweep failed; will retry"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
