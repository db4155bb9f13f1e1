DROP TABLE staff_views;
DROP TABLE code_batch_items;
DROP TABLE code_batches;
DROP TABLE staff_login_failures;
DROP TABLE staff_sessions;
DROP TABLE staff_invitations;
DROP TABLE staff;
