//! Connections, the pool and the single async entry point.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;
use crate::url::{Backend, DatabaseUrl};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// One connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for production.
    Pg(PgConnection),
    /// Embedded SQLite, the default.
    Sqlite(SqliteConnection),
}

/// Settings applied to every SQLite connection. `secure_delete` overwrites
/// deleted content so it does not linger in free pages; WAL lets readers
/// run beside the single writer; the busy timeout turns lock contention
/// into waiting rather than errors.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
PRAGMA journal_mode = WAL;
PRAGMA busy_timeout = 10000;
PRAGMA secure_delete = ON;
PRAGMA synchronous = NORMAL;";

/// Opens the right variant for the URL's scheme.
/// The database backend of [`DbConn`] (both engines behind one type).
pub(crate) type Db = <DbConn as diesel::Connection>::Backend;

fn establish(url: &DatabaseUrl) -> Result<DbConn, ConnectError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(|e| ConnectError(e.to_string()))?;
            }
            create_private_file(path).map_err(|e| ConnectError(e.to_string()))?;
            let path = path
                .to_str()
                .ok_or_else(|| ConnectError("non-UTF-8 path".into()))?;
            let mut conn =
                SqliteConnection::establish(path).map_err(|e| ConnectError(e.to_string()))?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(|e| ConnectError(e.to_string()))?;
            Ok(DbConn::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => PgConnection::establish(url)
            .map(DbConn::Pg)
            .map_err(|e| ConnectError(e.to_string())),
    }
}

/// Creates `dir` and any missing parents, readable only by this user
/// (0700 on Unix). An existing directory is left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty SQLite file readable only by this user (0600) unless it
/// exists. SQLite gives its WAL and shared-memory files the main file's
/// mode, so they are private too.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why a connection could not be opened (libpq's message has no secrets).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

struct Manager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// The database: a small pool and the way to run work on it. Clones share
/// the pool; [`Store::close`] closes it for all of them.
#[derive(Clone)]
pub struct Store {
    pool: Arc<RwLock<Option<r2d2::Pool<Manager>>>>,
    backend: Backend,
}

impl Store {
    /// Connects (lazily growing a pool up to `max_size`) and checks that
    /// one connection can be opened.
    ///
    /// The pool never works in the background: no minimum of idle
    /// connections to top up and no reaper closing old ones. A connection
    /// is opened only while a caller waits for it, and stays open until
    /// the pool is dropped or it is found broken at checkout. This matters
    /// at exit: a pool thread still inside libpq (its TLS handshake) while
    /// the process runs OpenSSL's exit handlers crashes the process with
    /// SIGSEGV after its work is done. Callers drop every [`Store`] clone
    /// before returning from `main`, which closes the connections on the
    /// dropping thread.
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Self, StoreError> {
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .idle_timeout(None)
            .max_lifetime(None)
            .connection_timeout(Duration::from_secs(10))
            .build(Manager { url: url.clone() })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // With no minimum, building opened nothing: open one now, so a
        // wrong URL or a stopped server is reported here.
        drop(
            pool.get()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        );
        Ok(Self {
            pool: Arc::new(RwLock::new(Some(pool))),
            backend: url.backend(),
        })
    }

    /// The pool, unless the store was closed.
    fn pool(&self) -> Result<r2d2::Pool<Manager>, StoreError> {
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the database is closed".into()))
    }

    /// Closes the pool for every clone: later calls fail with
    /// [`StoreError::Unavailable`]. Waits up to `wait` for connections in
    /// use to come back, then closes the idle ones on the calling thread.
    /// A process calls this last before it exits, so that no thread is
    /// inside the database driver (and its TLS library) while the process
    /// runs its exit handlers.
    pub async fn close(&self, wait: Duration) {
        let taken = self
            .pool
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(pool) = taken else { return };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let state = pool.state();
            if state.idle_connections >= state.connections
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(pool);
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending embedded migration for this backend.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        self.run_blocking(|conn| {
            let applied = match conn {
                DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
                DbConn::Pg(c) => c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.len()),
            };
            applied.map_err(|e| StoreError::Migration(e.to_string()))
        })
    }

    /// Runs `f` with a pooled connection on the calling thread. For the CLI
    /// and for code already on a blocking thread.
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .pool()?
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        f(&mut conn)
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool, so
    /// diesel's synchronous calls never stall the async workers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.run_blocking(f))
            .await
            .map_err(|_| StoreError::Task)?
    }

    /// Runs `f` inside one transaction.
    ///
    /// On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the
    /// write lock up front: a deferred transaction that reads and then
    /// writes fails at once with "database is locked" when another writer
    /// got in between, instead of waiting out the busy timeout.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |conn| transaction_on(conn, f)).await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
            .is_ok()
    }

    /// On SQLite, moves everything from the WAL into the main file and
    /// truncates the WAL, so deleted bytes leave the WAL too. Retries while
    /// another connection's read keeps the checkpoint from finishing. A
    /// no-op on PostgreSQL (see docs/deletion.md).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            busy: i32,
        }
        for attempt in 0..20 {
            let busy = self
                .run(|conn| match conn {
                    DbConn::Sqlite(c) => diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .load::<Checkpoint>(c)
                        .map(|rows| rows.first().is_some_and(|r| r.busy != 0))
                        .map_err(StoreError::from),
                    DbConn::Pg(_) => Ok(false),
                })
                .await?;
            if !busy {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25 * (attempt + 1))).await;
        }
        Err(StoreError::Unavailable(
            "WAL checkpoint kept being blocked".into(),
        ))
    }
}

/// See [`Store::transaction`].
pub(crate) fn transaction_on<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !matches!(conn, DbConn::Sqlite(_)) {
        return conn.transaction(f);
    }
    // The derived multi-connection delegates transaction state to the
    // inner connection, so beginning and ending on the inner SQLite
    // connection keeps nested `transaction` calls (savepoints) working.
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    }
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        unreachable!("checked above that this is SQLite");
    };
    match result {
        Ok(v) => {
            AnsiTransactionManager::commit_transaction(c)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(c) {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}
