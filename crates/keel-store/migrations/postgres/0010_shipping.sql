-- Shipping options per region: a flat rate or weight tiers, optionally free over an items
-- subtotal; a cart's chosen option.

CREATE TABLE shipping_options (
    id         TEXT PRIMARY KEY,
    region_id  TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    free_over  BIGINT,
    tiers      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX shipping_options_region_idx ON shipping_options (region_id);

ALTER TABLE carts ADD COLUMN shipping_option_id TEXT REFERENCES shipping_options (id) ON DELETE SET NULL;
