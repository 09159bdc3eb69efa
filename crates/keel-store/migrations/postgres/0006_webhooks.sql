-- Webhooks: endpoints subscribed to event types, one delivery per (endpoint, event), and a log
-- of every attempt.

CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    event_types          JSONB NOT NULL,
    secret               TEXT NOT NULL,
    enabled              BOOLEAN NOT NULL,
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT webhook_deliveries_event_key UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    status           INTEGER,
    latency_ms       INTEGER NOT NULL,
    response_excerpt TEXT,
    error            TEXT,
    at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
