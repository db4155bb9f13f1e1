DROP TABLE sessions;
DROP TABLE accounts;
DROP TABLE organisations;
