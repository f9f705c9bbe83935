-- The catalog: product descriptions, a status (draft / active / archived), an affiliate
-- commission in basis points (0 = not open to affiliates), and variants with their own SKU,
-- option values, price and stock. Existing products were live: they become `active`.

ALTER TABLE products ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE products ADD COLUMN commission_bps BIGINT NOT NULL DEFAULT 0;
CREATE INDEX products_by_status ON products (status, id);

CREATE TABLE product_variants (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku             TEXT NOT NULL,
    -- Option values as a JSON object, e.g. {"size": "M", "colour": "rose"}.
    options         TEXT NOT NULL,
    price_minor     BIGINT NOT NULL,
    stock           BIGINT NOT NULL,
    position        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX product_variants_by_sku ON product_variants (product_id, sku);
