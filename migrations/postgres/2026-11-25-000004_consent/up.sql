-- Sharing consent (promise 3), code rotation (4) and deletion (5).

-- Every change of sharing: given, renewed, withdrawn, declined,
-- ended_at_renewal, lapsed. The user sees this history in settings.
CREATE TABLE consent_events (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX consent_events_account ON consent_events (account_id, at);

-- The code the organisation issued, sealed, so its staff can see their
-- pseudonym for the patient. Never the code after a rotation.
ALTER TABLE accounts ADD COLUMN pseudonym BYTEA;

-- A code rotation in progress: the HMAC of the new code, shown once and
-- waiting for the user to type it back.
ALTER TABLE sessions ADD COLUMN pending_code_hash TEXT;

-- What the issuing organisation keeps after a user deletes everything:
-- its pseudonym and the date. No account id: the account is gone.
CREATE TABLE deletion_records (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    pseudonym BYTEA,
    deleted_at TIMESTAMP NOT NULL
);
CREATE INDEX deletion_records_org ON deletion_records (org_id, deleted_at);
