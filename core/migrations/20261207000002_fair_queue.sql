-- The transcode queue leases fairly across creators: each job knows its creator, and the next
-- lease goes to the due job of the creator served longest ago (`leased_at` is when a job of
-- theirs was last leased), so one creator's 50 uploads do not make everyone else wait.
ALTER TABLE jobs ADD COLUMN creator_id TEXT;
ALTER TABLE jobs ADD COLUMN leased_at BIGINT;
UPDATE jobs SET creator_id = (SELECT v.creator_id FROM videos v WHERE v.id = jobs.video_id);
CREATE INDEX jobs_by_creator_leased ON jobs (creator_id, leased_at);
