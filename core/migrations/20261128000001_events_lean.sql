-- The event log is written on every batch and read by nothing on the request path: the ranker
-- keeps its own per-clip and per-viewer state (feed_* tables), and the shop its attribution
-- tables. Its primary key (viewer, id) is what makes a retried batch idempotent; the two
-- secondary indexes cost two random B-tree writes per event and served no query.
-- Offline jobs (training, analytics) read the log by time, in bulk.
DROP INDEX events_by_video_type;
DROP INDEX events_by_viewer;
