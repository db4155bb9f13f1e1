-- Staff: clinicians and superusers, each in one organisation.
-- E-mail is personal data; it is stored (lower-cased) only to log in and
-- to send the invitation. Passwords are Argon2id PHC strings; TOTP
-- secrets are sealed (XChaCha20-Poly1305) under a key outside the database.
CREATE TABLE staff (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    totp_secret BYTEA,
    totp_last_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    deactivated_at TIMESTAMP
);
CREATE UNIQUE INDEX staff_email ON staff (email);
CREATE INDEX staff_org ON staff (org_id);

-- One-time invitation links, stored as the SHA-256 of their token.
CREATE TABLE staff_invitations (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX staff_invitations_staff ON staff_invitations (staff_id);

-- Staff sessions. `verified` is false between the password and the TOTP
-- step: such a session opens nothing but the second step.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    verified BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Failed logins per account, for the 100-an-hour limit (ASVS 2.2.1).
CREATE TABLE staff_login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL
);
CREATE INDEX staff_login_failures_staff ON staff_login_failures (staff_id, at);

-- Batches of issued codes, so the printable sheet is a GET page and codes
-- can be found by the issued code after a rotation. `issued_hash` is the
-- HMAC of the code as issued (the same as the account's first code_hash).
CREATE TABLE code_batches (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    staff_id TEXT REFERENCES staff(id) ON DELETE SET NULL,
    program_slug TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX code_batches_org ON code_batches (org_id, created_at);

CREATE TABLE code_batch_items (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    batch_id TEXT NOT NULL REFERENCES code_batches(id) ON DELETE CASCADE,
    issued_hash TEXT NOT NULL
);
CREATE INDEX code_batch_items_batch ON code_batch_items (batch_id);
CREATE UNIQUE INDEX code_batch_items_issued ON code_batch_items (issued_hash);

-- Every opening of a user's page by staff (Normen: access logging). Goes
-- with the account when the user deletes everything.
CREATE TABLE staff_views (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL
);
CREATE INDEX staff_views_org ON staff_views (org_id, at);
CREATE INDEX staff_views_account ON staff_views (account_id, at);
