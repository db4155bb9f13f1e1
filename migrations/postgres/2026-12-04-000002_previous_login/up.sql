-- The login before the latest, so the user can see when their code was
-- last used (a date, no address): misuse of a code becomes visible.
ALTER TABLE accounts ADD COLUMN previous_login_at TIMESTAMP;
