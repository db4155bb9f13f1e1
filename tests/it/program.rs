//! End-to-end tests for the program area.
