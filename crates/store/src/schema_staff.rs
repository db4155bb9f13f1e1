//! Diesel tables for the staff area (kept apart so areas grow independently).
