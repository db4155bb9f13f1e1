-- Channels and tool managers (issue 11). An organisation belongs to one
-- channel; a tool manager is staff of a channel, not of an organisation.
-- SQLite cannot relax NOT NULL in place, so `staff` is rebuilt by the
-- documented twelve steps: foreign keys off (outside a transaction), new
-- table, copy, drop, rename, indexes, check, foreign keys on.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE channels (
    slug TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO channels (slug, name, created_at) VALUES ('direct', 'Direct', CURRENT_TIMESTAMP);

ALTER TABLE organisations ADD COLUMN channel TEXT NOT NULL DEFAULT 'direct' REFERENCES channels(slug);
CREATE INDEX organisations_channel ON organisations (channel);

CREATE TABLE staff_new (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT REFERENCES organisations(id),
    channel TEXT REFERENCES channels(slug),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    totp_secret BLOB,
    totp_last_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    deactivated_at TIMESTAMP,
    last_login_at TIMESTAMP,
    previous_login_at TIMESTAMP,
    pending_totp_secret BLOB,
    -- Exactly one home: an organisation (clinician, superuser) or a
    -- channel (tool manager).
    CHECK ((org_id IS NULL) <> (channel IS NULL)),
    CHECK ((role = 'tool-manager') = (channel IS NOT NULL))
);
INSERT INTO staff_new (id, org_id, channel, email, name, role, password_hash, totp_secret,
    totp_last_step, created_at, activated_at, deactivated_at, last_login_at,
    previous_login_at, pending_totp_secret)
SELECT id, org_id, NULL, email, name, role, password_hash, totp_secret,
    totp_last_step, created_at, activated_at, deactivated_at, last_login_at,
    previous_login_at, pending_totp_secret
FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE UNIQUE INDEX staff_email ON staff (email);
CREATE INDEX staff_org ON staff (org_id);
CREATE INDEX staff_channel ON staff (channel);

-- Aggregates read activity by day and events by time per organisation.
CREATE INDEX activity_days_day ON activity_days (day, account_id);
CREATE INDEX consent_events_at ON consent_events (at, account_id);
CREATE INDEX registration_entries_created ON registration_entries (created_at, account_id);

COMMIT;
PRAGMA foreign_keys = ON;
