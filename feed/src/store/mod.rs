//! The ranker's state in the database: what each event batch changes (clip counts, the viewer's
//! history, affinities, follows, mutes, traffic-pool stages), and the reads that rebuild the
//! catalog and a viewer's state.
//!
//! Writes happen in the event batch's transaction, except clip counts: a batch queues what it
//! adds to its clips (`feed_count_deltas`, one row), and `fold_counts` adds the queue to the
//! clips' rows every few seconds (`x = x + n`, one process at a time). API processes on many
//! machines can ingest at once; a viewer's own rows are read and
//! rewritten under that viewer's lock (PostgreSQL advisory lock; SQLite has one writer).

mod read;
mod write;

pub use read::*;
pub use write::*;

pub use crate::model::viewing::Incoming;

pub(crate) const DAY_MS: f64 = 24.0 * 3_600_000.0;

/// Rows per multi-row statement: a whole batch (each statement goes through `Backend::sql`, so
/// SQLite binds its parameters by position and a big statement costs no more per row than a
/// small one; 14 columns × 1000 rows stays under both SQLite's and PostgreSQL's limits).
pub const ROWS_PER_STATEMENT: usize = 1000;
