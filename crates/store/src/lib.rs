//! The only crate that talks SQL.
//!
//! One connection type ([`DbConn`]) covers SQLite and PostgreSQL through
//! diesel's `MultiConnection`; the backend is chosen by the URL scheme.
//! Diesel is synchronous, so async callers go through [`Store::run`], which
//! moves the work onto tokio's blocking pool.

pub mod accounts;
pub mod activity;
mod conn;
pub mod consent;
pub mod deletion;
pub mod error;
pub mod export;
pub mod feedback;
pub mod organisations;
pub mod progress;
pub mod registrations;
pub mod responses;
pub mod schema;
pub mod schema_consent;
pub mod schema_program;
pub mod schema_staff;
pub mod security;
pub mod sessions;
pub mod staff;
pub mod staff_sessions;
pub mod staff_views;
pub mod testing;
mod url;

pub use conn::{DbConn, Store, create_private_dir};
pub use error::StoreError;
pub use url::{Backend, DatabaseUrl, DatabaseUrlError};

use chrono::{DateTime, NaiveDateTime, Utc};

/// Stored timestamps are UTC `TIMESTAMP` columns without zone.
pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Reads a stored UTC timestamp back.
pub(crate) fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
