-- A code sheet is shown once: the codes on it are logins, so they are not
-- kept on display for anyone with dashboard access to read later.
ALTER TABLE code_batches ADD COLUMN sheet_shown_at TIMESTAMP;
