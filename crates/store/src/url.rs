//! Parsing `MESTRING_DATABASE_URL`.

use std::fmt;
use std::path::PathBuf;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (bundled).
    Sqlite,
    /// PostgreSQL (libpq, bundled).
    Postgres,
}

/// A database URL with an explicit, supported scheme.
///
/// `sqlite://PATH` (relative, or absolute as `sqlite:///abs/path`) or
/// `postgres://…` / `postgresql://…`. The derive's own `establish` tries
/// backends in order and SQLite accepts any string, so the scheme is
/// required and checked here instead.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string, kept whole for libpq.
    Postgres(String),
}

/// A URL whose scheme is missing or unsupported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    /// Neither `sqlite://` nor `postgres://`.
    #[error("the database URL must start with sqlite:// or postgres://")]
    UnknownScheme,
    /// `sqlite://` with nothing after it.
    #[error("the sqlite:// URL has no file path")]
    EmptyPath,
}

impl DatabaseUrl {
    /// Parses a URL from configuration.
    pub fn parse(s: &str) -> Result<Self, DatabaseUrlError> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseUrlError::EmptyPath);
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self::Postgres(s.to_owned()))
        } else {
            Err(DatabaseUrlError::UnknownScheme)
        }
    }

    /// The engine this URL names.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

// A PostgreSQL URL may carry a password: never print it.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            Self::Postgres(_) => f.write_str("postgres://[REDACTED]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.sqlite3"),
            Ok(DatabaseUrl::Sqlite("data/x.sqlite3".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db"),
            Ok(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").map(|u| u.backend()),
            Ok(Backend::Postgres)
        );
        assert_eq!(
            DatabaseUrl::parse("data/x.db"),
            Err(DatabaseUrlError::UnknownScheme)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://"),
            Err(DatabaseUrlError::EmptyPath)
        );
    }

    #[test]
    fn debug_hides_postgres_credentials() {
        let url = DatabaseUrl::parse("postgres://u:secret@h/db").expect("parses");
        assert!(!format!("{url:?}").contains("secret"));
    }
}
