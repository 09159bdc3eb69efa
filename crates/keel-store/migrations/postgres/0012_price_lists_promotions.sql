-- Customer groups; price lists (sales with dates, group prices, quantity tiers) that override
-- base prices while they run; promotions (codes or automatic) with usage limits; the codes a
-- cart holds; and redemptions counted per customer, so limits hold under concurrency.

CREATE TABLE customer_groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT customer_groups_name_key UNIQUE (name)
);

CREATE TABLE customer_group_members (
    group_id    TEXT NOT NULL REFERENCES customer_groups (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, customer_id)
);
CREATE INDEX customer_group_members_customer_idx ON customer_group_members (customer_id);

CREATE TABLE price_lists (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'draft')),
    starts_at          TIMESTAMPTZ,
    ends_at            TIMESTAMPTZ,
    customer_group_ids JSONB NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE price_list_prices (
    price_list_id TEXT NOT NULL REFERENCES price_lists (id) ON DELETE CASCADE,
    variant_id    TEXT NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    currency      TEXT NOT NULL,
    min_quantity  INTEGER NOT NULL CHECK (min_quantity >= 1),
    amount        BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (price_list_id, variant_id, currency, min_quantity)
);
CREATE INDEX price_list_prices_variant_idx ON price_list_prices (variant_id, currency);

CREATE TABLE promotions (
    id                 TEXT PRIMARY KEY,
    code               TEXT,
    name               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'draft')),
    starts_at          TIMESTAMPTZ,
    ends_at            TIMESTAMPTZ,
    currency           TEXT,
    rule               JSONB NOT NULL,
    exclusive          BOOLEAN NOT NULL,
    priority           INTEGER NOT NULL,
    customer_group_ids JSONB NOT NULL,
    usage_limit        INTEGER CHECK (usage_limit >= 0),
    per_customer_limit INTEGER CHECK (per_customer_limit >= 1),
    usage_count        INTEGER NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT promotions_code_key UNIQUE (code),
    CONSTRAINT promotions_within_limit CHECK (usage_limit IS NULL OR usage_count <= usage_limit)
);
CREATE INDEX promotions_automatic_idx ON promotions (status) WHERE code IS NULL;

CREATE TABLE cart_promotions (
    cart_id      TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    promotion_id TEXT NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cart_id, promotion_id)
);

CREATE TABLE promotion_redemptions (
    promotion_id TEXT NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    customer_key TEXT NOT NULL,
    count        INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (promotion_id, customer_key)
);
