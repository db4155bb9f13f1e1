-- Staff profile (issue 15): the last two logins, shown to the person, and
-- a new TOTP secret waiting for its first code during re-enrolment.
ALTER TABLE staff ADD COLUMN last_login_at TIMESTAMP;
ALTER TABLE staff ADD COLUMN previous_login_at TIMESTAMP;
ALTER TABLE staff ADD COLUMN pending_totp_secret BLOB;
