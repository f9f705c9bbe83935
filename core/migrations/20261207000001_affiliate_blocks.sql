-- Creators a shop no longer lets tag its products (affiliates it blocked). Blocking removes
-- their tags on the shop's products; unblocking lets them tag again.
CREATE TABLE affiliate_blocks (
    shop_id         TEXT NOT NULL REFERENCES shops (id),
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (shop_id, account_id)
);
