PRAGMA foreign_keys = OFF;
BEGIN;
DROP INDEX registration_entries_created;
DROP INDEX consent_events_at;
DROP INDEX activity_days_day;
DELETE FROM staff WHERE channel IS NOT NULL;
CREATE TABLE staff_old (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
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
    pending_totp_secret BLOB
);
INSERT INTO staff_old SELECT id, org_id, email, name, role, password_hash, totp_secret,
    totp_last_step, created_at, activated_at, deactivated_at, last_login_at,
    previous_login_at, pending_totp_secret FROM staff;
DROP TABLE staff;
ALTER TABLE staff_old RENAME TO staff;
CREATE UNIQUE INDEX staff_email ON staff (email);
CREATE INDEX staff_org ON staff (org_id);
DROP INDEX organisations_channel;
ALTER TABLE organisations DROP COLUMN channel;
DROP TABLE channels;
COMMIT;
PRAGMA foreign_keys = ON;
