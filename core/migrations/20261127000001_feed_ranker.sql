-- The feed ranker's state (owned by the feed crate), updated by every accepted event batch so
-- that any API process ranks from the same shared numbers.

-- Per clip: action counts (each viewer counted once per action), the decayed trend counter,
-- and its traffic-pool stage.
CREATE TABLE feed_video_stats (
    video_id        TEXT PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    impressions     BIGINT NOT NULL DEFAULT 0,
    completes       BIGINT NOT NULL DEFAULT 0,
    likes           BIGINT NOT NULL DEFAULT 0,
    shares          BIGINT NOT NULL DEFAULT 0,
    comments        BIGINT NOT NULL DEFAULT 0,
    follows         BIGINT NOT NULL DEFAULT 0,
    not_interested  BIGINT NOT NULL DEFAULT 0,
    product_clicks  BIGINT NOT NULL DEFAULT 0,
    watch_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    watched         BIGINT NOT NULL DEFAULT 0,
    -- Positive actions, each weighted by 2^((t - epoch start) / half-life): adding is atomic,
    -- and the value now is trend x 2^((epoch start - now) / half-life).
    trend           DOUBLE PRECISION NOT NULL DEFAULT 0,
    trend_epoch     BIGINT NOT NULL DEFAULT 0,
    stage           BIGINT NOT NULL DEFAULT 0,
    pool            TEXT NOT NULL DEFAULT 'testing',
    updated_at      BIGINT NOT NULL
);
CREATE INDEX feed_video_stats_by_updated ON feed_video_stats (updated_at);

-- Per viewer and clip: what the viewer did with it (the seen set and the source of
-- co-engagement), so that repeated events count once.
CREATE TABLE feed_viewer_videos (
    viewer_id       TEXT NOT NULL,
    video_id        TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    creator_id      TEXT NOT NULL,
    seen_at         BIGINT,
    watch_ratio     DOUBLE PRECISION NOT NULL DEFAULT 0,
    completed       BIGINT NOT NULL DEFAULT 0,
    liked           BIGINT NOT NULL DEFAULT 0,
    shared          BIGINT NOT NULL DEFAULT 0,
    commented       BIGINT NOT NULL DEFAULT 0,
    followed        BIGINT NOT NULL DEFAULT 0,
    not_interested  BIGINT NOT NULL DEFAULT 0,
    clicked         BIGINT NOT NULL DEFAULT 0,
    positive_at     BIGINT,
    last_at         BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, video_id)
);
CREATE INDEX feed_viewer_videos_by_viewer ON feed_viewer_videos (viewer_id, last_at);
CREATE INDEX feed_viewer_videos_by_positive ON feed_viewer_videos (positive_at);

-- Per viewer: decayed affinity to creators and product categories (value as of `at`).
CREATE TABLE feed_affinities (
    viewer_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    key             TEXT NOT NULL,
    score           DOUBLE PRECISION NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, kind, key)
);

-- "Not interested" in a creator (creator fatigue) and follows.
CREATE TABLE feed_muted_creators (
    viewer_id       TEXT NOT NULL,
    creator_id      TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, creator_id)
);
CREATE TABLE follows (
    viewer_id       TEXT NOT NULL,
    creator_id      TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, creator_id)
);

-- The catalog refresh reads what changed since its last pass.
CREATE INDEX videos_by_updated ON videos (updated_at);

-- Product categories (the shop owns them): the commerce source matches them to viewers.
ALTER TABLE products ADD COLUMN category TEXT;
