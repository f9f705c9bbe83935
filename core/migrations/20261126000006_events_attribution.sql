-- Viewing signals (owned by the feed) and the shop's own record of what drives sales: tag
-- impressions, product clicks, and each paid order line's attribution to the clip that drove it.

-- Event ids are the client's: unique per viewer, not across viewers.
CREATE TABLE events (
    id              TEXT NOT NULL,
    viewer_id       TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    at              BIGINT NOT NULL,
    watch_ms        BIGINT,
    product_id      TEXT,
    tag_id          TEXT,
    received_at     BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, id)
);
CREATE INDEX events_by_video_type ON events (video_id, type, at);
CREATE INDEX events_by_viewer ON events (viewer_id, at);

-- One row per live, visible tag of a video each time the video was shown (a feed impression).
CREATE TABLE tag_impressions (
    event_id        TEXT NOT NULL,
    tag_id          TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    product_id      TEXT NOT NULL,
    viewer_id       TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, event_id, tag_id)
);
CREATE INDEX tag_impressions_by_product ON tag_impressions (product_id, video_id);

CREATE TABLE product_clicks (
    event_id        TEXT NOT NULL,
    viewer_id       TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    tag_id          TEXT NOT NULL,
    product_id      TEXT NOT NULL,
    creator_id      TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (viewer_id, event_id)
);
CREATE INDEX product_clicks_by_viewer_product ON product_clicks (viewer_id, product_id, at);

CREATE TABLE order_attributions (
    order_id        TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,
    product_id      TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    tag_id          TEXT NOT NULL,
    creator_id      TEXT NOT NULL,
    units           BIGINT NOT NULL,
    gmv_minor       BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_attributions_by_product ON order_attributions (product_id, video_id);
CREATE INDEX order_attributions_by_creator ON order_attributions (creator_id);
