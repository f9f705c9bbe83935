-- Product anchors with consent: a merchant's tag on a creator's video waits for the creator
-- (`pending`); a creator's tag on an affiliate product, or on their own video with their own
-- product, is `live` at once. `rejected` by the creator; `invalid` when the video turned out
-- shorter than the range. Optional variant, on-screen pin (normalized x, y) and short label.
-- Existing tags were live.

ALTER TABLE tags ADD COLUMN variant_id TEXT;
ALTER TABLE tags ADD COLUMN status TEXT NOT NULL DEFAULT 'live';
ALTER TABLE tags ADD COLUMN pos_x DOUBLE PRECISION;
ALTER TABLE tags ADD COLUMN pos_y DOUBLE PRECISION;
ALTER TABLE tags ADD COLUMN label TEXT;
ALTER TABLE tags ADD COLUMN reason TEXT;
CREATE INDEX tags_by_video_status ON tags (video_id, status);
