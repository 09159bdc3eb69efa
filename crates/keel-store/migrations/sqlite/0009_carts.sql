-- Carts: a region's currency and tax setting, an optional owner, addresses, and lines (one per
-- variant). A region's default tax rate (basis points) prices carts until per-country and
-- per-product-class rates arrive.

ALTER TABLE regions ADD COLUMN tax_rate INTEGER NOT NULL DEFAULT 0;

CREATE TABLE carts (
    id               TEXT PRIMARY KEY,
    region_id        TEXT NOT NULL REFERENCES regions (id),
    currency         TEXT NOT NULL,
    customer_id      TEXT REFERENCES customers (id),
    email            TEXT,
    shipping_address TEXT,
    billing_address  TEXT,
    status           TEXT NOT NULL CHECK (status IN ('active', 'completed')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX carts_customer_idx ON carts (customer_id, updated_at);

CREATE TABLE cart_lines (
    id         TEXT PRIMARY KEY,
    cart_id    TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT cart_lines_variant_key UNIQUE (cart_id, variant_id)
);
