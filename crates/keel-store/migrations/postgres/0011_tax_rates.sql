-- Tax rates beyond a region's default: per country, optionally per province and per product tax
-- class (reduced rates for books or food, say); and each product's tax class.

CREATE TABLE tax_rates (
    id           TEXT PRIMARY KEY,
    region_id    TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    country_code TEXT NOT NULL,
    province     TEXT,
    tax_class    TEXT,
    rate         INTEGER NOT NULL CHECK (rate >= 0 AND rate <= 10000),
    name         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX tax_rates_region_idx ON tax_rates (region_id, country_code);

CREATE TABLE product_tax_classes (
    product_id TEXT PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    tax_class  TEXT NOT NULL
);
