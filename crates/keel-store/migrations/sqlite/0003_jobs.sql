-- The durable job queue. A job is `pending` (due at `run_at`), `running` (leased to a worker
-- until `locked_until`), `completed`, `dead` (out of attempts) or `discarded` (by an operator).

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'dead', 'discarded')),
    run_at       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until TEXT,
    last_error   TEXT,
    unique_key   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT
);
-- What a worker claims next: due pending jobs of a queue, highest priority first.
CREATE INDEX jobs_claim_idx ON jobs (queue, state, priority DESC, run_at, id);
-- Expired leases are found by this one.
CREATE INDEX jobs_lease_idx ON jobs (state, locked_until);
-- A unique key is held while its job is live, so a duplicate enqueue is a no-op.
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key) WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');
