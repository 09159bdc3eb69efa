-- Orders (with a human-readable sequential number), their lines, payments through providers,
-- and the checkout saga's log: one row per checkout attempt, keyed by the cart and the client's
-- idempotency key, recording the step reached so that a crash between steps is recovered.

CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('order_number', 1000);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    number           BIGINT NOT NULL,
    cart_id          TEXT NOT NULL,
    customer_id      TEXT REFERENCES customers (id),
    email            TEXT NOT NULL,
    customer_key     TEXT NOT NULL,
    region_id        TEXT NOT NULL,
    currency         TEXT NOT NULL,
    tax_inclusive    BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    payment_status   TEXT NOT NULL,
    subtotal         BIGINT NOT NULL,
    discount_total   BIGINT NOT NULL,
    shipping_total   BIGINT NOT NULL,
    tax_total        BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    shipping_address JSONB NOT NULL,
    billing_address  JSONB,
    shipping         JSONB NOT NULL,
    promotions       JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT orders_number_key UNIQUE (number),
    CONSTRAINT orders_cart_key UNIQUE (cart_id)
);
CREATE INDEX orders_customer_idx ON orders (customer_id, id);

CREATE TABLE order_lines (
    id             TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    variant_id     TEXT NOT NULL,
    product_id     TEXT NOT NULL,
    title          TEXT NOT NULL,
    sku            TEXT NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    unit_price     BIGINT NOT NULL,
    subtotal       BIGINT NOT NULL,
    discount_total BIGINT NOT NULL,
    tax_total      BIGINT NOT NULL,
    total          BIGINT NOT NULL
);
CREATE INDEX order_lines_order_idx ON order_lines (order_id, position);

CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    checkout_id  TEXT NOT NULL,
    order_id     TEXT REFERENCES orders (id),
    provider     TEXT NOT NULL,
    reference    TEXT,
    amount       BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT payments_checkout_key UNIQUE (checkout_id)
);
CREATE INDEX payments_order_idx ON payments (order_id);

CREATE TABLE checkouts (
    id              TEXT PRIMARY KEY,
    cart_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    provider        TEXT NOT NULL,
    step            TEXT NOT NULL,
    order_id        TEXT,
    error           JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT checkouts_key UNIQUE (cart_id, idempotency_key)
);
CREATE INDEX checkouts_step_idx ON checkouts (step, updated_at);
