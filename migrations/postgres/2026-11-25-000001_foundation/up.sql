-- Foundation: organisations, accounts (one per access code) and sessions.
-- Access codes are never stored: only their HMAC under the server's pepper.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    code_hash TEXT NOT NULL,
    org_id TEXT REFERENCES organisations(id),
    program_slug TEXT,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    deactivated_at TIMESTAMP
);
CREATE UNIQUE INDEX accounts_code_hash ON accounts (code_hash);
CREATE INDEX accounts_org ON accounts (org_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
