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
    /// No connection could be had from the pool.
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
    /// A stored value does not parse as its domain type.
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict,
            other => Self::Query(other),
        }
    }
}
