-- Raw viewer events, tag impressions and product clicks are kept for a while
-- (`raw_event_retention_days`); older impressions and clicks are rolled up per product, video
-- and day first, so the analytics keep their totals.
CREATE TABLE attribution_daily (
    product_id      TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    -- Unix day (milliseconds / 86400000).
    day             BIGINT NOT NULL,
    impressions     BIGINT NOT NULL,
    -- Counted as the analytics count them: one per viewer, tag and half hour.
    clicks          BIGINT NOT NULL,
    PRIMARY KEY (product_id, video_id, day)
);
CREATE INDEX events_by_received ON events (received_at);
CREATE INDEX tag_impressions_by_at ON tag_impressions (at);
CREATE INDEX product_clicks_by_at ON product_clicks (at);
