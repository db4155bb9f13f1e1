-- The overview's page of an organisation's codes, newest first
-- (`org_accounts_page`): with an index on the organisation alone the
-- database reads every one of the organisation's account rows to sort
-- them, and on a large database those rows lie scattered over the file
-- (at 1M accounts about 30 ms of page reads per overview on SQLite).
-- With the issue time in the index it reads the 50 shown. The index on
-- org_id alone is a prefix of this one.
DROP INDEX accounts_org;
CREATE INDEX accounts_org_created ON accounts (org_id, created_at);
