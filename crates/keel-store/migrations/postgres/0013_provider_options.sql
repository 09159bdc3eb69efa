-- Shipping options name the fulfillment provider that prices them (`manual`: flat rate, weight
-- tiers, free over a threshold), with settings of the provider's own.

ALTER TABLE shipping_options ADD COLUMN provider TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE shipping_options ADD COLUMN data JSONB NOT NULL DEFAULT '{}';
