-- What happens to an order after it is placed: shipments (fulfillments, each from one stock
-- location, with tracking) and refunds. Each order line counts what was fulfilled and refunded,
-- changed only by conditional updates, so concurrent staff actions can never ship or refund more
-- than the line holds.

ALTER TABLE order_lines ADD COLUMN fulfilled_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN refunded_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN returned_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN refunded_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN fulfillment_status TEXT NOT NULL DEFAULT 'not_fulfilled';
ALTER TABLE orders ADD COLUMN refunded_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_refunded INTEGER NOT NULL DEFAULT 0;

CREATE TABLE fulfillments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    location_id     TEXT,
    status          TEXT NOT NULL,
    carrier         TEXT,
    tracking_number TEXT,
    lines           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX fulfillments_order_idx ON fulfillments (order_id, id);

CREATE TABLE refunds (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    payment_id TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    reason     TEXT,
    lines      TEXT NOT NULL,
    shipping   INTEGER NOT NULL,
    reference  TEXT,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX refunds_order_idx ON refunds (order_id, id);

-- Webhook events already handled, per provider: a redelivered event changes nothing.
CREATE TABLE provider_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Returns: units of shipped lines the shopper sends back; received, optionally restocked and
-- refunded.
CREATE TABLE returns (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    lines       TEXT NOT NULL,
    reason      TEXT,
    created_at  TEXT NOT NULL,
    received_at TEXT
);
CREATE INDEX returns_order_idx ON returns (order_id, id);
