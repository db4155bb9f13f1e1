ALTER TABLE audit_log DROP COLUMN subject;
ALTER TABLE audit_log DROP COLUMN actor;
ALTER TABLE feedback DROP COLUMN outcome;
ALTER TABLE feedback DROP COLUMN handled_at;
ALTER TABLE registration_entries DROP COLUMN edited_at;
