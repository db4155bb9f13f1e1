-- Private purchases (docs/payments.md). Nothing here names an account,
-- and no account row names a purchase: a bought code is minted when its
-- buyer first sees it, into an account like any code without an
-- organisation. Times are whole days (YYYY-MM-DD, UTC). The key is random
-- (and on SQLite the table has no rowid), so the order of rows says
-- nothing about the order of purchases.
CREATE TABLE purchases (
    id TEXT PRIMARY KEY NOT NULL,
    -- Stripe's Checkout Session id (idempotent fulfilment keys on it).
    stripe_session TEXT NOT NULL UNIQUE,
    program_slug TEXT NOT NULL,
    amount_ore BIGINT NOT NULL,
    day TEXT NOT NULL,
    -- open, paid, expired or refunded.
    status TEXT NOT NULL,
    -- SHA-256 of the random cookie set when checkout started; the code is
    -- shown only to that browser, once. NULL once shown or expired.
    claim_hash TEXT,
    code_shown BOOLEAN NOT NULL DEFAULT FALSE,
    -- Stripe's PaymentIntent id, for the receipt and refunds.
    payment_ref TEXT,
    -- The receipt address, sealed; NULL once sent or after 7 days.
    receipt_sealed BLOB,
    -- none, pending, sent or erased.
    receipt TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX purchases_claim ON purchases (claim_hash);

-- Stripe event ids already handled, so a repeated delivery changes
-- nothing twice. Written in the same transaction as the event's effect.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    day TEXT NOT NULL
) WITHOUT ROWID;
