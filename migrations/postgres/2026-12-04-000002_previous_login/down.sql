ALTER TABLE accounts DROP COLUMN previous_login_at;
