-- One schema for SQLite and PostgreSQL: only portable types (TEXT, BIGINT, DOUBLE PRECISION),
-- timestamps as Unix milliseconds, ids as prefixed text. Never write backend-specific SQL here.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE videos (
    id                  TEXT PRIMARY KEY,
    creator_id          TEXT NOT NULL REFERENCES accounts (id),
    title               TEXT NOT NULL,
    status              TEXT NOT NULL,
    progress            DOUBLE PRECISION NOT NULL DEFAULT 0,
    error               TEXT,
    duration_ms         BIGINT,
    width               BIGINT,
    height              BIGINT,
    source_size         BIGINT NOT NULL,
    source_sha256       TEXT NOT NULL,
    outputs             TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    ready_at            BIGINT
);
CREATE INDEX videos_by_status_ready ON videos (status, ready_at, id);
CREATE INDEX videos_by_creator ON videos (creator_id);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    video_id        TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    run_at          BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX jobs_by_state_run_at ON jobs (state, run_at);
CREATE INDEX jobs_by_video ON jobs (video_id);

CREATE TABLE products (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES accounts (id),
    title        TEXT NOT NULL,
    price_minor  BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    stock        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX products_by_merchant ON products (merchant_id);

CREATE TABLE tags (
    id          TEXT PRIMARY KEY,
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    product_id  TEXT NOT NULL REFERENCES products (id),
    created_by  TEXT NOT NULL REFERENCES accounts (id),
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tags_by_video ON tags (video_id, start_ms);
CREATE INDEX tags_by_product ON tags (product_id);
