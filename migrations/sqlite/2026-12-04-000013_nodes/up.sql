-- Several server nodes on one database (docs/scaling.md). SQLite serves
-- one node only, so the throttle here stays in process memory; the table
-- exists so that both backends have one schema (the same store code).
CREATE TABLE throttle_cells (
    key TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL,
    throttled_until BIGINT
);

-- A keyed fingerprint of each secret key file, stored the first time the
-- file is used with this database (`mestring keys init` or the first
-- start), so that a start with another file is refused instead of, for
-- instance, hashing codes under another pepper.
CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
