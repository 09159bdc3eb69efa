-- The transactional outbox: domain events written in the same transaction as the change they
-- describe, relayed to the event bus in `seq` order, then marked published.

CREATE TABLE outbox_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL CONSTRAINT outbox_events_id_key UNIQUE,
    event_type     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id   TEXT NOT NULL,
    data           TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    published_at   TEXT
);
CREATE INDEX outbox_events_unpublished_idx ON outbox_events (seq) WHERE published_at IS NULL;
