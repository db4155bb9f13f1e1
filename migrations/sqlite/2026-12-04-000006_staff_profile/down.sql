ALTER TABLE staff DROP COLUMN pending_totp_secret;
ALTER TABLE staff DROP COLUMN previous_login_at;
ALTER TABLE staff DROP COLUMN last_login_at;
