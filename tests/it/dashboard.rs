//! End-to-end tests for the dashboard area.
