-- Each fold of queued clip counts (`store::fold_counts`) takes the next number here, inside its
-- transaction and under the fold lock, and stamps the clips' rows it writes with it. Folds
-- commit in the order of their numbers, so an API process that has read every fold up to N
-- re-reads exactly the rows of later folds (`fold_seq > N`), once each. The time stamp this
-- replaces needed an overlap for transactions still open when a pass read it, and the overlap
-- made every process re-read each folded clip about four times.
CREATE TABLE feed_folds (
    id              BIGINT PRIMARY KEY,
    seq             BIGINT NOT NULL
);
INSERT INTO feed_folds (id, seq) VALUES (1, 0);
ALTER TABLE feed_video_stats ADD COLUMN fold_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX feed_video_stats_by_fold ON feed_video_stats (fold_seq);
DROP INDEX feed_video_stats_by_updated;
