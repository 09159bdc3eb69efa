-- Regions (markets: currency, countries, tax-inclusive pricing, the stock locations that serve
-- them) and inventory beyond plain levels: per-variant tracking flags, reservations with an owner
-- and an expiry, and a movement log.

CREATE TABLE regions (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    currency      TEXT NOT NULL,
    tax_inclusive INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A country belongs to at most one region.
CREATE TABLE region_countries (
    country_code TEXT PRIMARY KEY,
    region_id    TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE
);
CREATE INDEX region_countries_region_idx ON region_countries (region_id);

CREATE TABLE region_locations (
    region_id   TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES stock_locations (id) ON DELETE CASCADE,
    PRIMARY KEY (region_id, location_id)
);

-- How a variant's stock is kept; a variant without a row is tracked, without backorders.
CREATE TABLE inventory_items (
    variant_id          TEXT PRIMARY KEY REFERENCES product_variants (id) ON DELETE CASCADE,
    manage_inventory    INTEGER NOT NULL,
    allow_backorder     INTEGER NOT NULL,
    low_stock_threshold INTEGER,
    updated_at          TEXT NOT NULL
);

CREATE TABLE inventory_reservations (
    id          TEXT PRIMARY KEY,
    variant_id  TEXT NOT NULL,
    location_id TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('cart', 'order')),
    owner_id    TEXT NOT NULL,
    expires_at  TEXT,
    created_at  TEXT NOT NULL,
    FOREIGN KEY (variant_id, location_id) REFERENCES inventory_levels (variant_id, location_id) ON DELETE CASCADE
);
CREATE INDEX inventory_reservations_owner_idx ON inventory_reservations (owner_kind, owner_id);
CREATE INDEX inventory_reservations_expiry_idx ON inventory_reservations (expires_at);

CREATE TABLE inventory_movements (
    id             TEXT PRIMARY KEY,
    variant_id     TEXT NOT NULL,
    location_id    TEXT NOT NULL,
    on_hand_delta  INTEGER NOT NULL,
    reserved_delta INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    reference      TEXT,
    at             TEXT NOT NULL
);
CREATE INDEX inventory_movements_variant_idx ON inventory_movements (variant_id, at);
