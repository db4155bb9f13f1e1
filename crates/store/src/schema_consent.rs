//! Diesel tables for the consent area (kept apart so areas grow independently).
