-- When each viewer's ranker state (feed_viewer_videos, feed_affinities, feed_muted_creators,
-- follows) last changed. API processes keep viewers' states in memory between their pages and
-- poll this table to drop copies another process's event batch made stale. An event batch
-- reads the viewer's rows before its write transaction and checks `version` inside it.
CREATE TABLE feed_viewer_changes (
    viewer_id       TEXT PRIMARY KEY,
    changed_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX feed_viewer_changes_by_time ON feed_viewer_changes (changed_at);
