-- Recurring jobs. Each period is fired by exactly one worker: the one whose conditional update
-- moves `next_run_at` from the due time to the next occurrence.

CREATE TABLE job_schedules (
    name        TEXT PRIMARY KEY,
    cron        TEXT NOT NULL,
    next_run_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
