-- Catalog: products, options, variants, prices, images, categories, collections; stock locations
-- and levels (filled by the demo seed, used by inventory); admin API keys.

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    handle      TEXT NOT NULL CONSTRAINT products_handle_key UNIQUE,
    title       TEXT NOT NULL,
    subtitle    TEXT,
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    metadata    JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX products_status_created_idx ON products (status, created_at, id);
CREATE INDEX products_status_title_idx ON products (status, title, id);

CREATE TABLE product_tags (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (product_id, tag)
);
CREATE INDEX product_tags_tag_idx ON product_tags (tag);

CREATE TABLE product_options (
    id            TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    option_values JSONB NOT NULL,
    CONSTRAINT product_options_name_key UNIQUE (product_id, name)
);

CREATE TABLE product_variants (
    id            TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku           TEXT NOT NULL CONSTRAINT product_variants_sku_key UNIQUE,
    title         TEXT NOT NULL,
    option_values JSONB NOT NULL DEFAULT '{}',
    barcode       TEXT,
    weight_grams  INTEGER,
    position      INTEGER NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_variants_product_idx ON product_variants (product_id, position);

CREATE TABLE variant_prices (
    variant_id TEXT NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    currency   TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (variant_id, currency)
);
CREATE INDEX variant_prices_currency_idx ON variant_prices (currency, amount);

CREATE TABLE product_images (
    id         TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    alt        TEXT,
    position   INTEGER NOT NULL
);
CREATE INDEX product_images_product_idx ON product_images (product_id, position);

CREATE TABLE categories (
    id          TEXT PRIMARY KEY,
    handle      TEXT NOT NULL CONSTRAINT categories_handle_key UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    parent_id   TEXT REFERENCES categories (id) ON DELETE RESTRICT,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX categories_parent_idx ON categories (parent_id, position);

CREATE TABLE product_categories (
    product_id  TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    category_id TEXT NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_categories_category_idx ON product_categories (category_id, product_id);

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    handle      TEXT NOT NULL CONSTRAINT collections_handle_key UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE product_collections (
    product_id    TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, collection_id)
);
CREATE INDEX product_collections_collection_idx ON product_collections (collection_id, product_id);

CREATE TABLE stock_locations (
    id         TEXT PRIMARY KEY,
    code       TEXT NOT NULL CONSTRAINT stock_locations_code_key UNIQUE,
    name       TEXT NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE inventory_levels (
    variant_id  TEXT NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES stock_locations (id) ON DELETE CASCADE,
    on_hand     BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved    BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (variant_id, location_id)
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL CONSTRAINT api_keys_secret_hash_key UNIQUE,
    permissions  JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
