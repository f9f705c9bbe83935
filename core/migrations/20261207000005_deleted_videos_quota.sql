-- A deleted video still counts towards its creator's uploads of the day: its tombstone keeps
-- who uploaded it, when and how long it was, and stays (collected) for two days.
ALTER TABLE deleted_videos ADD COLUMN creator_id TEXT;
ALTER TABLE deleted_videos ADD COLUMN created_at BIGINT;
ALTER TABLE deleted_videos ADD COLUMN duration_ms BIGINT;
ALTER TABLE deleted_videos ADD COLUMN collected_at BIGINT;
CREATE INDEX deleted_videos_by_creator ON deleted_videos (creator_id, created_at);
