//! The transcode queue, kept in the database next to the videos it serves.
//!
//! * `enqueue` runs inside the caller's transaction, so a video row and its job appear together
//!   or not at all.
//! * `lease` hands one due job to one worker until a deadline. A job whose lease ran out (its
//!   worker died or was partitioned away) is due again. Creators take turns: the next job is
//!   the oldest due one of the creator whose jobs were leased longest ago, so one creator's
//!   burst of uploads does not hold up everyone else's. On PostgreSQL the candidate row is taken
//!   with `FOR UPDATE SKIP LOCKED`, so workers on many machines share the queue without blocking
//!   each other; on SQLite the single writer makes the statement exclusive anyway.
//! * Every later transition (`heartbeat`, `complete`, `retry_later`, `fail`, `release`) names the
//!   lease owner: a worker that lost its lease can no longer change the job.

use std::time::Duration;

use sqlx::Row;
use vitrine_core::{
    db::{Db, Tx},
    ids::{JobId, VideoId},
    time::now_ms,
};

#[derive(Debug, Clone)]
pub struct Lease {
    pub job_id: JobId,
    pub video_id: VideoId,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub max_attempts: i64,
    pub owner: String,
}

/// Queues a job for `video_id`, due at once. Its times come from the database's clock, like the
/// lease that compares against them: with the application's clock, SQLite's (rounded down to the
/// millisecond) could still be a millisecond behind and a job leased at once would not be due.
pub async fn enqueue(
    db: &Db,
    tx: &mut Tx,
    video_id: &VideoId,
    max_attempts: i64,
) -> sqlx::Result<JobId> {
    let id = JobId::generate();
    let now = db.now_ms_sql();
    sqlx::query(&format!(
        "INSERT INTO jobs (id, video_id, state, attempts, max_attempts, run_at, created_at, \
           updated_at, creator_id) \
         VALUES ($1, $2, 'queued', 0, $3, {now}, {now}, {now}, \
           (SELECT creator_id FROM videos WHERE id = $2))"
    ))
    .bind(id.as_str())
    .bind(video_id.as_str())
    .bind(max_attempts)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Takes a due job, if any, for `lease_for`: the oldest one of the creator served longest ago.
pub async fn lease(db: &Db, owner: &str, lease_for: Duration) -> sqlx::Result<Option<Lease>> {
    let now = db.now_ms_sql();
    let sql = format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = {now} + $2, \
           attempts = attempts + 1, updated_at = {now}, leased_at = {now} \
         WHERE id = (SELECT j.id FROM jobs j \
                     WHERE (j.state = 'queued' AND j.run_at <= {now}) \
                        OR (j.state = 'running' AND j.lease_until < {now}) \
                     ORDER BY COALESCE((SELECT MAX(l.leased_at) FROM jobs l \
                                        WHERE l.creator_id = j.creator_id), 0), \
                              j.run_at, j.id \
                     LIMIT 1 {}) \
         RETURNING id, video_id, attempts, max_attempts",
        db.skip_locked()
    );
    let row = sqlx::query(&sql)
        .bind(owner)
        .bind(lease_for.as_millis() as i64)
        .fetch_optional(db.pool())
        .await?;
    row.map(|row| {
        Ok(Lease {
            job_id: row.try_get("id")?,
            video_id: row.try_get("video_id")?,
            attempt: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            owner: owner.to_owned(),
        })
    })
    .transpose()
}

/// Whether some worker holds a live lease on `job`.
pub async fn is_leased(db: &Db, job: &JobId) -> sqlx::Result<bool> {
    let found: Option<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM jobs WHERE id = $1 AND state = 'running' AND lease_until >= {}",
        db.now_ms_sql()
    ))
    .bind(job.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// Extends the lease; `false` means it was lost (expired and taken by another worker, or the job
/// was deleted with its video) and the work must stop.
pub async fn heartbeat(db: &Db, lease: &Lease, lease_for: Duration) -> sqlx::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET lease_until = {now} + $1, updated_at = {now} \
         WHERE id = $2 AND lease_owner = $3 AND state = 'running'"
    ))
    .bind(lease_for.as_millis() as i64)
    .bind(lease.job_id.as_str())
    .bind(&lease.owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the job done inside the caller's transaction; `false` if the lease was lost.
pub async fn complete(tx: &mut Tx, lease: &Lease) -> sqlx::Result<bool> {
    finish(tx, lease, "done", None).await
}

/// Ends the job for good (the video is failed by the caller in the same transaction).
pub async fn fail(tx: &mut Tx, lease: &Lease, reason: &str) -> sqlx::Result<bool> {
    finish(tx, lease, "failed", Some(reason)).await
}

async fn finish(
    tx: &mut Tx,
    lease: &Lease,
    state: &str,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, \
           updated_at = $3 \
         WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
    )
    .bind(state)
    .bind(error)
    .bind(now_ms())
    .bind(lease.job_id.as_str())
    .bind(&lease.owner)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts the job back to run again after `delay`, keeping the failure for operators. `false` (and
/// nothing changed) if the lease was lost: the job belongs to another worker now.
pub async fn retry_later(
    db: &Db,
    tx: &mut Tx,
    lease: &Lease,
    error: &str,
    delay: Duration,
) -> sqlx::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = 'queued', last_error = $1, run_at = {now} + $2, \
           lease_owner = NULL, lease_until = NULL, updated_at = {now} \
         WHERE id = $3 AND lease_owner = $4 AND state = 'running'"
    ))
    .bind(error)
    .bind(delay.as_millis() as i64)
    .bind(lease.job_id.as_str())
    .bind(&lease.owner)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a job back untouched (graceful shutdown): due at once, and the interrupted attempt does
/// not count against its retries. `false` if the lease was lost.
pub async fn release(db: &Db, tx: &mut Tx, lease: &Lease) -> sqlx::Result<bool> {
    let now = db.now_ms_sql();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = 'queued', run_at = {now}, attempts = attempts - 1, \
           lease_owner = NULL, lease_until = NULL, updated_at = {now} \
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
    ))
    .bind(lease.job_id.as_str())
    .bind(&lease.owner)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Jobs waiting or running: the queue depth operators watch.
pub async fn depth(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
        .fetch_one(db.pool())
        .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The latest job of a video (for operators and tests).
pub async fn state_of(db: &Db, video_id: &VideoId) -> sqlx::Result<Option<JobState>> {
    let row = sqlx::query(
        "SELECT state, attempts, last_error FROM jobs WHERE video_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(video_id.as_str())
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        Ok(JobState {
            state: row.try_get("state")?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
        })
    })
    .transpose()
}
