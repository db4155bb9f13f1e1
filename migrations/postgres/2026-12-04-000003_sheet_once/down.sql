ALTER TABLE code_batches DROP COLUMN sheet_shown_at;
