//! Store errors. Messages describe the failure, never the data involved.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflicting row")]
    Conflict,
    /// The database cannot be reached: no connection could be had from the
    /// pool in time, or the connection was lost during the query. Nothing
    /// about the request is wrong; retrying later may succeed. The message
    /// names the failure only, never the server's address or credentials.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The query failed.
    #[error("query failed: {0}")]
    Query(diesel::result::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed")]
    Task,
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The key-encryption keys could not be read or written (the message
    /// names the file, never key material).
    #[error("key-encryption keys: {0}")]
    Keys(String),
    /// A sealed value does not open: its account's data key is gone (a
    /// destroyed key-encryption key) or the bytes were altered.
    #[error("sealed value in {0} does not open")]
    Sealed(&'static str),
    /// A stored value does not parse as its domain type.
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// A stored enum value (a role, an event kind) this version does not
    /// know: the database was written by another version or edited by
    /// hand. Never read as a default. Names the column and the value (these
    /// columns hold fixed words, never personal data).
    #[error("unknown value {value:?} in {column}")]
    UnknownValue {
        /// `table.column`.
        column: &'static str,
        /// What is stored there.
        value: String,
    },
}

/// The [`StoreError::UnknownValue`] a typed column raised while a row was
/// read, whether diesel passed it on as is or wrapped it with the field.
fn unknown_value(e: &(dyn std::error::Error + 'static)) -> Option<(&'static str, String)> {
    if let Some(StoreError::UnknownValue { column, value }) = e.downcast_ref::<StoreError>() {
        return Some((column, value.clone()));
    }
    let field = e.downcast_ref::<diesel::result::DeserializeFieldError>()?;
    unknown_value(&*field.error)
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict,
            // The server went away under the query (PostgreSQL stopped or
            // restarted): an outage, not a bug. libpq's text may name the
            // server's address, so it is not kept.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable("connection lost during a query".into()),
            // A transaction whose connection died cannot even roll back.
            Error::BrokenTransactionManager => {
                Self::Unavailable("connection lost during a transaction".into())
            }
            // A typed column refused its stored value: surface that error
            // itself, not "query failed".
            Error::DeserializationError(inner) => match unknown_value(&*inner) {
                Some((column, value)) => Self::UnknownValue { column, value },
                None => Self::Query(Error::DeserializationError(inner)),
            },
            other => Self::Query(other),
        }
    }
}

impl From<mestring_crypto::keyfile::KeyFileError> for StoreError {
    fn from(e: mestring_crypto::keyfile::KeyFileError) -> Self {
        Self::Keys(e.to_string())
    }
}
