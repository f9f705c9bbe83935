-- Orders: stock is reserved when the order is placed (pending_payment), released if it is
-- cancelled or expires unpaid; an Idempotency-Key per buyer returns the same order on retries.
CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    buyer_id            TEXT NOT NULL REFERENCES accounts (id),
    idempotency_key     TEXT NOT NULL,
    -- SHA-256 of the request as understood, to tell a retry from a different order.
    request_hash        TEXT NOT NULL,
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    total_minor         BIGINT NOT NULL,
    video_id            TEXT,
    tag_id              TEXT,
    payment_ref         TEXT,
    expires_at          BIGINT NOT NULL,
    paid_at             BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_by_idempotency_key ON orders (buyer_id, idempotency_key);
CREATE INDEX orders_by_status_expiry ON orders (status, expires_at);

CREATE TABLE order_items (
    order_id            TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position            BIGINT NOT NULL,
    product_id          TEXT NOT NULL REFERENCES products (id),
    variant_id          TEXT,
    merchant_id         TEXT NOT NULL,
    title               TEXT NOT NULL,
    unit_price_minor    BIGINT NOT NULL,
    quantity            BIGINT NOT NULL,
    commission_bps      BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_items_by_product ON order_items (product_id);
