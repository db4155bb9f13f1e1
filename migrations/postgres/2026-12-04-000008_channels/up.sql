-- Channels and tool managers (issue 11). An organisation belongs to one
-- channel; a tool manager is staff of a channel, not of an organisation.
CREATE TABLE channels (
    slug TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO channels (slug, name, created_at) VALUES ('direct', 'Direct', now() AT TIME ZONE 'UTC');

ALTER TABLE organisations ADD COLUMN channel TEXT NOT NULL DEFAULT 'direct' REFERENCES channels(slug);
CREATE INDEX organisations_channel ON organisations (channel);

ALTER TABLE staff ALTER COLUMN org_id DROP NOT NULL;
ALTER TABLE staff ADD COLUMN channel TEXT REFERENCES channels(slug);
-- Exactly one home: an organisation (clinician, superuser) or a channel
-- (tool manager).
ALTER TABLE staff ADD CONSTRAINT staff_one_home CHECK ((org_id IS NULL) <> (channel IS NULL));
ALTER TABLE staff ADD CONSTRAINT staff_tool_manager_channel CHECK ((role = 'tool-manager') = (channel IS NOT NULL));
CREATE INDEX staff_channel ON staff (channel);

-- Aggregates read activity by day and events by time per organisation.
CREATE INDEX activity_days_day ON activity_days (day, account_id);
CREATE INDEX consent_events_at ON consent_events (at, account_id);
CREATE INDEX registration_entries_created ON registration_entries (created_at, account_id);
