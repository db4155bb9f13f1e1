//! Diesel tables for the program area (kept apart so areas grow independently).
