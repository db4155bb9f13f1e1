//! End-to-end tests for the consent area.
