-- The IP layer (promise 7). security_events deliberately has no column
-- that refers to an account, session, code, purchase or any usage data.
CREATE TABLE security_events (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    tag TEXT NOT NULL,
    key_id BIGINT NOT NULL,
    sealed_ip BLOB NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_key ON security_events (key_id);

-- Daily random keys for IP tags, shared by all server instances.
-- Deleted 48 hours after they stop being current.
CREATE TABLE ip_tag_keys (
    id TEXT PRIMARY KEY NOT NULL,
    secret BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Blocks are stored as a keyed hash of the address, never the address.
CREATE TABLE ip_blocks (
    block_hash TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL,
    until_at TIMESTAMP
);

-- Break-glass and other operator actions that must leave a trace.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    row_count BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
