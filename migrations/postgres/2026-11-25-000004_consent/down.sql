DROP TABLE deletion_records;
ALTER TABLE sessions DROP COLUMN pending_code_hash;
ALTER TABLE accounts DROP COLUMN pseudonym;
DROP TABLE consent_events;
