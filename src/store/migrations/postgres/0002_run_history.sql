-- What started a run, how many ratings were new to it, and why it ended as
-- it did (a skip's count, a rejection's figures, a failure's error). Runs
-- that published say so: `succeeded` becomes `published`.
ALTER TABLE training_runs ADD COLUMN triggered_by TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE training_runs ADD COLUMN new_ratings BIGINT;
ALTER TABLE training_runs RENAME COLUMN error TO reason;
UPDATE training_runs SET status = 'published' WHERE status = 'succeeded';
ALTER TABLE training_runs ADD COLUMN duration_ms BIGINT;
CREATE INDEX training_runs_by_trigger ON training_runs (triggered_by, id);

-- The scheduler's durable settings: `paused` (an RFC 3339 time, or absent)
-- and `resumed` (the last resume, before which missed runs are not caught
-- up).
CREATE TABLE schedule_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
