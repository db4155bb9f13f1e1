-- OpenID Connect logins (docs/oidc.md): the portal launch for citizens and
-- HelseID for staff.

-- A login begun at an identity provider and not yet returned. The row is
-- taken (deleted) by the callback, so a `state` works once; rows older
-- than ten minutes are refused and purged. Nothing here names a person.
CREATE TABLE oidc_pending (
    -- SHA-256 of the `state` sent to the provider.
    state_hash TEXT PRIMARY KEY NOT NULL,
    -- `launch` or `helseid`.
    flow TEXT NOT NULL,
    -- The launch channel (NULL for HelseID).
    channel TEXT,
    -- SHA-256 of the random cookie set on the browser that began the
    -- login: the callback must come back to the same browser.
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- The launch context: the assigning organisation and program.
    org_id TEXT,
    program_slug TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_pending_created ON oidc_pending (created_at);

-- A portal identity's account: the key is HMAC(pepper, channel, sub), so
-- the portal's `sub` is never stored. Deleting the account deletes the
-- link; the next launch starts a new, empty account.
CREATE TABLE launch_links (
    key_hash TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- HelseID maps a verified clinician to an invited staff account by the
-- health personnel number (HPR) a superuser entered. Never the national
-- identity number.
ALTER TABLE staff ADD COLUMN hpr_number TEXT;
CREATE UNIQUE INDEX staff_hpr_number ON staff (hpr_number);
