-- Identity: an account is a person (it watches, buys and, with a handle, creates), a shop is a
-- seller with members, sessions expire, API keys carry scopes, operators have `role = 'admin'`.
--
-- Existing data: merchants (and anyone who listed a product, as creators could) get a shop of
-- their own owning their products and order lines, with a deterministic id derived from the
-- account's. What needs application code — a handle derived from each creator's name, today's
-- tokens turned into sessions starting now, `role` set to 'user' — is done by
-- `vitrine_identity::upgrade` when the server starts (idempotent).
--
-- `accounts.token_hash` is no longer read (SQLite cannot drop a UNIQUE column): accounts made
-- from now on store 'none:' || id there.

ALTER TABLE accounts ADD COLUMN email TEXT;
ALTER TABLE accounts ADD COLUMN email_verified_at BIGINT;
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
ALTER TABLE accounts ADD COLUMN handle TEXT;
ALTER TABLE accounts ADD COLUMN anonymous BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN suspended_at BIGINT;
ALTER TABLE accounts ADD COLUMN suspended_reason TEXT;
-- Emails are stored lower-cased; NULL (anonymous viewers, accounts made by scripts) repeats.
CREATE UNIQUE INDEX accounts_by_email ON accounts (email);
CREATE UNIQUE INDEX accounts_by_handle ON accounts (handle);

-- Opaque tokens, stored hashed. Expiry is computed from the configured lifetimes: absolute from
-- created_at, idle from last_used_at (touched at most once a minute).
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    token_hash      TEXT NOT NULL UNIQUE,
    user_agent      TEXT,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    ended_at        BIGINT
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);

CREATE TABLE shops (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    owner_id        TEXT NOT NULL REFERENCES accounts (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX shops_by_owner ON shops (owner_id);

-- role: 'owner' (exactly one per shop, its shops.owner_id) or 'staff'.
CREATE TABLE shop_members (
    shop_id         TEXT NOT NULL REFERENCES shops (id),
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    role            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (shop_id, account_id)
);
CREATE INDEX shop_members_by_account ON shop_members (account_id);

-- A shop's invitations to work for it, by email: the person accepts them once they have signed
-- up with that email and verified it (nobody is made staff without their consent).
CREATE TABLE shop_invitations (
    shop_id         TEXT NOT NULL REFERENCES shops (id),
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    invited_by      TEXT NOT NULL REFERENCES accounts (id),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (shop_id, email)
);
CREATE INDEX shop_invitations_by_email ON shop_invitations (email);

-- Integrators' keys: `scopes` space-separated; `shop_id` set for a shop's key (it acts for the
-- shop while its maker is a member).
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    shop_id         TEXT REFERENCES shops (id),
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_by_account ON api_keys (account_id);
CREATE INDEX api_keys_by_shop ON api_keys (shop_id);

-- One-time links mailed to people (email verification, password reset), stored hashed.
CREATE TABLE account_tokens (
    token_hash      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    purpose         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX account_tokens_by_account ON account_tokens (account_id);

-- Failed sign-ins per email and per client address (key 'email:…' / 'addr:…'), counted in the
-- database so every API process sees the same count: past a few, answers slow down, then 429.
CREATE TABLE auth_failures (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    first_at        BIGINT NOT NULL,
    last_at         BIGINT NOT NULL
);

INSERT INTO shops (id, name, owner_id, created_at, updated_at)
    SELECT 'shp_' || substr(id, 5), name, id, created_at, created_at FROM accounts
    WHERE role = 'merchant' OR id IN (SELECT merchant_id FROM products);
INSERT INTO shop_members (shop_id, account_id, role, created_at)
    SELECT id, owner_id, 'owner', created_at FROM shops;

-- The shop a product belongs to; merchant_id stays as the account that listed it.
ALTER TABLE products ADD COLUMN shop_id TEXT REFERENCES shops (id);
UPDATE products SET shop_id = 'shp_' || substr(merchant_id, 5);
CREATE INDEX products_by_shop ON products (shop_id, id);

-- order_items.merchant_id is no longer read: from now on it holds the shop's id too.
ALTER TABLE order_items ADD COLUMN shop_id TEXT;
UPDATE order_items SET shop_id = 'shp_' || substr(merchant_id, 5);
CREATE INDEX order_items_by_shop ON order_items (shop_id, order_id);
