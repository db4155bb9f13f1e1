//! The only crate that talks SQL.
//!
//! One connection type ([`DbConn`]) covers SQLite and PostgreSQL through
//! diesel's `MultiConnection`; the backend is chosen by the URL scheme.
//! Diesel is synchronous, so async callers go through [`Store::run`], which
//! moves the work onto tokio's blocking pool.

/// Makes a fieldless enum a `Text` column on both backends, stored as its
/// `as_str()` word. Reading a word `parse` does not know fails with
/// [`StoreError::UnknownValue`] naming the column (`"table.column"`),
/// never falls back to a default. The enum derives `AsExpression` and
/// `FromSqlRow` with `sql_type = Text`.
macro_rules! text_column {
    ($ty:ty, $column:literal) => {
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $crate::conn::Db> for $ty {
            fn from_sql(
                bytes: <$crate::conn::Db as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let text = bytes.from_sql::<String, diesel::sql_types::Text>()?;
                Self::parse(&text).ok_or_else(|| {
                    $crate::StoreError::UnknownValue {
                        column: $column,
                        value: text,
                    }
                    .into()
                })
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $crate::conn::Db> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $crate::conn::Db>,
            ) -> diesel::serialize::Result {
                out.set_value((diesel::sql_types::Text, self.as_str()));
                Ok(diesel::serialize::IsNull::No)
            }
        }
    };
}

pub mod account_keys;
pub mod accounts;
pub mod activity;
pub mod aggregates;
pub mod backup;
pub mod bulk;
pub mod channels;
mod conn;
pub mod consent;
pub mod deletion;
pub mod error;
pub mod export;
pub mod feedback;
pub mod installation;
#[cfg(test)]
mod key_tests;
pub mod legacy;
pub mod oidc;
pub mod organisations;
pub mod overview;
pub mod progress;
pub mod purchases;
pub mod registrations;
pub mod responses;
pub mod schema;
pub mod security;
pub mod sessions;
pub mod staff;
pub mod staff_sessions;
pub mod staff_views;
pub mod stored_id;
pub mod testing;
pub mod throttle;
pub mod time;
mod url;

pub use conn::{CONNECTION_TIMEOUT, DbConn, Store, create_private_dir};
pub use error::StoreError;
pub use url::{Backend, DatabaseUrl, DatabaseUrlError};

pub use stored_id::StoredId;
pub use time::StoredTime;
pub(crate) use time::to_db;
