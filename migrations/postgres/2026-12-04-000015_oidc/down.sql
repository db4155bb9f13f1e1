DROP INDEX staff_hpr_number;
ALTER TABLE staff DROP COLUMN hpr_number;
DROP TABLE launch_links;
DROP TABLE oidc_pending;
