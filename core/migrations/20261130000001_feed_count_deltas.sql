-- What each event batch adds to its clips' counts, queued here and folded into
-- feed_video_stats every few seconds by whichever API process gets to it first.
--
-- A batch names ~1,000 random clips: adding to their feed_video_stats rows directly rewrote
-- ~1,000 random pages of the table and its updated_at index per batch, which capped ingest.
-- A queued batch is one row written at the end of this table; a fold adds up every batch
-- queued since the last one, so each clip's row is rewritten once per fold, not once per batch.
-- `body` is the batch's per-clip additions as JSON (read only by the fold: `vitrine_feed::store`).
CREATE TABLE feed_count_deltas (
    id              TEXT PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    body            TEXT NOT NULL
);
