-- The sharing period as of each account's latest consent event
-- (`mestring_domain::consent::sharing_window`), kept up to date in the
-- transaction of every consent event, so the clinician overview selects an
-- organisation's sharing accounts by index (sharing_since <= now <
-- sharing_until) instead of reading every consent history. NULL: not
-- sharing. Filled for existing accounts at the first start after this
-- migration (`backfills` row 'sharing_window'); every node must run this
-- version before any serves again (docs/operations.md).
ALTER TABLE accounts ADD COLUMN sharing_since TIMESTAMP;
ALTER TABLE accounts ADD COLUMN sharing_until TIMESTAMP;
CREATE INDEX accounts_org_sharing ON accounts (org_id, sharing_until);

-- One-off data steps that follow a migration and must run once, in Rust.
CREATE TABLE backfills (
    name TEXT PRIMARY KEY NOT NULL,
    done_at TIMESTAMP NOT NULL
);
