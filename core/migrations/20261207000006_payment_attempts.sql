-- Each payment attempt of an order has its own provider reference (`{order}.{attempt}`):
-- providers replay a repeated reference's first answer, so a retry after a decline needs a new one.
ALTER TABLE orders ADD COLUMN payment_attempts BIGINT NOT NULL DEFAULT 0;
