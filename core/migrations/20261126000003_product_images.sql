-- Product images: each uploaded picture, resized to a few widths (JPEG) in the object store.
CREATE TABLE product_images (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,
    width           BIGINT NOT NULL,
    height          BIGINT NOT NULL,
    -- [{"width", "height", "key"}], largest first.
    sizes           TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX product_images_by_product ON product_images (product_id, position);
