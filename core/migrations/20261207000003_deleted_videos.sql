-- A deleted video's objects are removed in the background, once any worker still transcoding
-- it has stopped: its row goes at once (its media answer 404 from then on), a tombstone stays
-- here until the objects are gone.
CREATE TABLE deleted_videos (
    id              TEXT PRIMARY KEY,
    deleted_at      BIGINT NOT NULL
);
