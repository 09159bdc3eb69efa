-- The store's product list: published products, newest first by id (ids are time-ordered), a page
-- at a time. This index serves the order and the keyset condition from the index alone, so the
-- first page costs the same with a hundred products or a hundred thousand; filters by category or
-- collection walk it until the page is full.
CREATE INDEX products_status_id_idx ON products (status, id);
