DROP INDEX accounts_org_created;
CREATE INDEX accounts_org ON accounts (org_id);
