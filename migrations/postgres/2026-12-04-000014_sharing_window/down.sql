DROP TABLE backfills;
DROP INDEX accounts_org_sharing;
ALTER TABLE accounts DROP COLUMN sharing_until;
ALTER TABLE accounts DROP COLUMN sharing_since;
