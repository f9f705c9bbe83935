-- Resumable (tus) uploads, one-time direct upload URLs, and the ids of videos that turned out to
-- be re-uploads of an existing one. Portable types only (see the first migration).

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    creator_id      TEXT NOT NULL REFERENCES accounts (id),
    -- The video this upload becomes; NULL for the partial uploads of a concatenation.
    video_id        TEXT,
    -- NULL while the client defers it (creation-defer-length).
    length          BIGINT,
    upload_offset   BIGINT NOT NULL DEFAULT 0,
    -- The Upload-Metadata header as the client sent it.
    metadata        TEXT NOT NULL,
    -- 'partial' or 'final' for the concatenation extension, NULL otherwise.
    concat          TEXT,
    -- Where the bytes are so far (the object store's resumable state, JSON).
    storage         TEXT NOT NULL,
    -- receiving → stored (every byte in the object store) → done (probed, video queued or failed)
    state           TEXT NOT NULL,
    lock_owner      TEXT,
    lock_until      BIGINT,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX uploads_by_state_expiry ON uploads (state, expires_at);
CREATE INDEX uploads_by_video ON uploads (video_id);

CREATE TABLE direct_uploads (
    id              TEXT PRIMARY KEY,
    creator_id      TEXT NOT NULL REFERENCES accounts (id),
    title           TEXT,
    max_size        BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    -- Set once, by the one upload this URL may create.
    upload_id       TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE video_aliases (
    id              TEXT PRIMARY KEY,
    video_id        TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL
);

-- The same creator sending the same bytes again gets the existing video back.
CREATE INDEX videos_by_creator_source ON videos (creator_id, source_sha256);
