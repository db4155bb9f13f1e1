-- Rectification (issue 17): a user edits a registration; the operator
-- handles feedback items and leaves an audit row saying who did what.
ALTER TABLE registration_entries ADD COLUMN edited_at TIMESTAMP;
ALTER TABLE feedback ADD COLUMN handled_at TIMESTAMP;
ALTER TABLE feedback ADD COLUMN outcome TEXT;
ALTER TABLE audit_log ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN subject TEXT NOT NULL DEFAULT '';
