DROP TABLE audit_log;
DROP TABLE ip_blocks;
DROP TABLE ip_tag_keys;
DROP TABLE security_events;
