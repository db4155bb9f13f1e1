-- Crypto-shredding (docs/deletion.md): what an account writes is sealed
-- under the account's own data key. The data key is stored here only
-- wrapped under a key-encryption key kept in a file outside the database
-- (kek_id names which). Deleting the account deletes this row; once the
-- key-encryption keys have rotated, copies of the row left in old pages,
-- the write-ahead log or backups can no longer be opened.
CREATE TABLE account_keys (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kek_id BIGINT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- Rotation re-wraps the keys still under an older key-encryption key.
CREATE INDEX account_keys_kek ON account_keys (kek_id);

-- The sealed forms of what users write. The clear columns before them
-- (registration_values.text_value, feedback.body, questionnaire_answers)
-- are no longer written; `mestring migrate` seals what an older version
-- left in them and empties them.
ALTER TABLE registration_values ADD COLUMN text_sealed BYTEA;
ALTER TABLE feedback ADD COLUMN body_sealed BYTEA;
-- Partial indexes that hold only what is still clear, so the check at
-- every start (is anything left to seal?) reads an empty index instead of
-- scanning the tables.
CREATE INDEX registration_values_clear ON registration_values (entry_id)
    WHERE text_value IS NOT NULL;
CREATE INDEX feedback_clear ON feedback (id) WHERE body_sealed IS NULL;
ALTER TABLE questionnaire_responses ADD COLUMN answers_sealed BYTEA;
