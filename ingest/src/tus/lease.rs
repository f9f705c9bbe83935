//! The write lease on an upload (`uploads::lock`): held while a piece is appended and recorded,
//! while an upload is finished or concatenated, and while one is terminated, so two requests
//! never write one upload at once, on one machine or many. It is not held while bytes trickle
//! in: a request that dies (or a server killed) while receiving leaves no lease behind.

use std::time::Duration;

use vitrine_api::AppState;
use vitrine_core::{db::Db, ids::UploadId};

use super::error::TusError;
use crate::uploads;

/// How long a writer's lease on an upload lasts without being renewed.
pub const LEASE_MS: i64 = 30_000;
/// How long a request waits for another writer of the same upload (appending one piece) before
/// it is told the upload is busy.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a held lease is tried again while waiting.
const RETRY: Duration = Duration::from_millis(100);

/// A held write lease, renewed in the background until it is released or dropped (appending
/// one piece — a whole checksummed PATCH, or a whole partial upload when concatenating — can
/// outlast [`LEASE_MS`]). Dropped without [`Lease::release`], it lapses by itself.
pub struct Lease {
    db: Db,
    id: UploadId,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Takes the write lease on an upload, waiting [`LOCK_WAIT`] at most for a writer that is
    /// appending a piece: [`TusError::Busy`] past that.
    pub async fn take(state: &AppState, id: &UploadId) -> Result<Lease, TusError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        while !uploads::lock(&state.db, id, &owner, LEASE_MS).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(TusError::Busy);
            }
            tokio::time::sleep(RETRY).await;
        }
        let renewal = tokio::spawn(renew(state.db.clone(), id.clone(), owner.clone()));
        Ok(Lease {
            db: state.db.clone(),
            id: id.clone(),
            owner,
            renewal,
        })
    }

    /// Who holds it, as `uploads` records it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Gives the lease back (best effort: if this fails, it lapses after [`LEASE_MS`]).
    pub async fn release(self) {
        self.renewal.abort();
        let _ = uploads::unlock(&self.db, &self.id, &self.owner).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Extends a held lease every third of its length, until it is no longer held.
async fn renew(db: Db, id: UploadId, owner: String) {
    let every = Duration::from_millis(u64::try_from(LEASE_MS / 3).unwrap_or(10_000));
    loop {
        tokio::time::sleep(every).await;
        // Only extends a lease still held: never takes one back after its release.
        if !matches!(uploads::renew(&db, &id, &owner, LEASE_MS).await, Ok(true)) {
            return;
        }
    }
}
