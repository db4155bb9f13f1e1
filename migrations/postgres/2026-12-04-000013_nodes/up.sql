-- Several server nodes on one database (docs/scaling.md).
--
-- The failed-login throttle's state, so that every node spends one budget
-- (docs/ip-layer.md): one row per limit and key ("m:<tag>", "h:<tag>",
-- "g"), holding the generic cell rate algorithm's theoretical arrival time
-- and, once a limit refused, until when its key is throttled. Times are
-- microseconds since the Unix epoch. UNLOGGED: no WAL, so the hot path of
-- a guessing run costs no log writes; after a crash PostgreSQL empties
-- the table, which only forgets throttles that expire within the hour.
CREATE UNLOGGED TABLE throttle_cells (
    key TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL,
    throttled_until BIGINT
);

-- A keyed fingerprint of each secret key file, stored the first time the
-- file is used with this database (`mestring keys init` or the first
-- start), so that a node whose file differs refuses to start instead of,
-- for instance, hashing codes under another pepper.
CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
