DROP TABLE installation_keys;
DROP TABLE throttle_cells;
