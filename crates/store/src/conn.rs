//! Connections, the pool and the single async entry point.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
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
/// into waiting rather than errors. A 32 MiB page cache per connection
/// (SQLite's default is 2 MiB) keeps the overview's index probes of a
/// 10 000-code organisation in memory: about a tenth off its p50 and p99
/// (BENCHMARKS.md), for 8–12 MB more resident memory after load; pages
/// are allocated only as they are read, so idle memory is unchanged.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
PRAGMA journal_mode = WAL;
PRAGMA busy_timeout = 10000;
PRAGMA secure_delete = ON;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -32768;";

/// How long a caller waits for a pooled connection before the store answers
/// [`StoreError::Unavailable`]. Short, so that while the database is down a
/// page answers 503 quickly instead of holding the request; long enough
/// that a burst of writers queueing on SQLite's single write lock (each
/// holding it for milliseconds) never reaches it. It also caps r2d2's retry
/// back-off at half its value, so a pool whose server came back opens a
/// connection again within that time.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);

/// The database backend of [`DbConn`] (both engines behind one type).
pub(crate) type Db = <DbConn as diesel::Connection>::Backend;

/// The PostgreSQL advisory-lock key that serialises migrations across
/// nodes (an arbitrary constant: "mestring" read as a number, shortened).
const MIGRATION_LOCK: i64 = 0x6d65_7374_7269;

/// Opens the right variant for the URL's scheme.
fn establish(url: &DatabaseUrl) -> Result<DbConn, ConnectError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(|e| ConnectError::new(&e.to_string()))?;
            }
            create_private_file(path).map_err(|e| ConnectError::new(&e.to_string()))?;
            let path = path
                .to_str()
                .ok_or_else(|| ConnectError("non-UTF-8 path".into()))?;
            let mut conn =
                SqliteConnection::establish(path).map_err(|e| ConnectError::new(&e.to_string()))?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(|e| ConnectError::new(&e.to_string()))?;
            Ok(DbConn::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => pg_establish(url)
            .map(DbConn::Pg)
            .map_err(|e| ConnectError::new(&e.to_string())),
    }
}

/// Opens a PostgreSQL connection; every one this process opens goes
/// through here.
pub(crate) fn pg_establish(url: &str) -> ConnectionResult<PgConnection> {
    // Before libpq first touches OpenSSL: initialise it without its exit
    // handler (`OPENSSL_INIT_NO_ATEXIT`, which is what this call does; once
    // per process). That handler frees OpenSSL's global state while the
    // process exits, and a pool thread can still be inside libpq then
    // (finishing a connect that a waiter no longer needed), which aborted
    // the process with a double free after a clean shutdown. The memory is
    // the OS's to reclaim anyway.
    openssl_sys::init();
    PgConnection::establish(url)
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

/// Why a connection could not be opened. Never holds the password, and for
/// PostgreSQL not the server's address either (see [`pg_reason`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl ConnectError {
    /// One line, without the address libpq names (see [`pg_reason`]).
    fn new(message: &str) -> Self {
        Self(pg_reason(message))
    }
}

/// libpq's reason for a failed connection without the address it names
/// ("connection to server at \"HOST\", port N failed: REASON" becomes
/// "REASON"; one line per address tried). Lines in another shape are
/// kept: they name a setting, not a secret.
fn pg_reason(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(" failed: ") {
            Some((head, reason)) if head.starts_with("connection to server") => reason.trim(),
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How often, at most, a failed connection attempt is logged: while the
/// database is down the pool retries every second or so.
const CONNECT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs failed connection attempts (r2d2 would log each one, with libpq's
/// full message) as one warning per [`CONNECT_ERROR_LOG_INTERVAL`].
#[derive(Debug, Default)]
struct ConnectErrorLog {
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl r2d2::HandleError<ConnectError> for ConnectErrorLog {
    fn handle_error(&self, error: ConnectError) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= CONNECT_ERROR_LOG_INTERVAL) {
            *last = Some(now);
            tracing::warn!(reason = %error, "could not open a database connection");
        }
    }
}

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
            .map_err(|e| ConnectError::new(&e.to_string()))
    }

    /// Called as a connection goes back to the pool, on the thread that
    /// used it: true when [`Store::run_blocking`] saw it fail as lost.
    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        LOST.with(|lost| lost.replace(false))
    }
}

/// The database: a small pool and the way to run work on it. Clones share
/// the pool; [`Store::close`] closes it for all of them.
#[derive(Clone)]
pub struct Store {
    pool: Arc<RwLock<Option<r2d2::Pool<Manager>>>>,
    backend: Backend,
    /// This process's turn to write on SQLite (see [`transaction_on`]).
    writer: Arc<Mutex<()>>,
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
    /// the process runs OpenSSL's exit handlers crashed the process after
    /// its work was done. Callers close the store before returning from
    /// `main`, which closes the connections on the closing thread; a
    /// connect the pool started for a waiter that then took another
    /// connection can still finish after that, which is why OpenSSL runs
    /// without exit handlers here (see `establish`).
    ///
    /// A caller waits at most [`CONNECTION_TIMEOUT`] for a connection; then
    /// it gets [`StoreError::Unavailable`]. A connection that broke (the
    /// server restarted) fails the first work done on it, as
    /// [`StoreError::Unavailable`], and is then dropped rather than
    /// returned to the pool, so the pool recovers by itself once the
    /// server is back, after at most one failed trip per open connection.
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Self, StoreError> {
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .idle_timeout(None)
            .max_lifetime(None)
            .connection_timeout(CONNECTION_TIMEOUT)
            // No `SELECT 1` before every checkout: it was a round trip per
            // database trip, several per page. A connection is dropped
            // instead when work on it fails as lost (see `has_broken`).
            .test_on_check_out(false)
            .error_handler(Box::new(ConnectErrorLog::default()))
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
            writer: Arc::new(Mutex::new(())),
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
                DbConn::Pg(c) => {
                    // Several nodes starting at once on one database: the
                    // first migrates, the others wait here and then find
                    // nothing pending. A session-level advisory lock, so it
                    // spans diesel's per-migration transactions and is gone
                    // with the connection if this process dies.
                    c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                    let applied = c
                        .run_pending_migrations(POSTGRES_MIGRATIONS)
                        .map(|v| v.len());
                    c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                    applied
                }
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
        // r2d2's error carries the driver's last message, which for
        // PostgreSQL names the server's address: it is not passed on.
        let mut conn = self.pool()?.get().map_err(|_| {
            StoreError::Unavailable(format!(
                "no connection within {} s",
                CONNECTION_TIMEOUT.as_secs()
            ))
        })?;
        let result = {
            let _turn = TurnScope::enter(
                (self.backend == Backend::Sqlite).then(|| Arc::clone(&self.writer)),
            );
            f(&mut conn)
        };
        if let Err(StoreError::Unavailable(_)) = &result {
            LOST.with(|lost| lost.set(true));
        }
        // Back to the pool here, on this thread, where `has_broken` reads
        // the mark just set.
        drop(conn);
        result
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
    ///
    /// On SQLite this process's write transactions also take turns (see
    /// [`transaction_on`]).
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

thread_local! {
    /// Set by [`Store::run_blocking`] just before it returns a connection
    /// whose work failed as [`StoreError::Unavailable`] (the server went
    /// away under it); read and cleared by [`Manager::has_broken`] in that
    /// same return, so the pool drops the connection instead of handing
    /// it out again.
    static LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// The write turn of the SQLite store whose work runs on this thread
    /// (set by [`Store::run_blocking`], so [`transaction_on`], which gets
    /// only a connection, can take it).
    static TURN: RefCell<Option<Arc<Mutex<()>>>> = const { RefCell::new(None) };
}

/// Sets [`TURN`] for the duration of one [`Store::run_blocking`] call and
/// restores what was there before (also when the work panics).
struct TurnScope(Option<Arc<Mutex<()>>>);

impl TurnScope {
    fn enter(turn: Option<Arc<Mutex<()>>>) -> Self {
        Self(TURN.with(|t| t.replace(turn)))
    }
}

impl Drop for TurnScope {
    fn drop(&mut self) {
        let previous = self.0.take();
        TURN.with(|t| *t.borrow_mut() = previous);
    }
}

/// Whether `conn` is inside a transaction (or a savepoint).
pub(crate) fn in_transaction(conn: &mut DbConn) -> Result<bool, StoreError> {
    let depth = match conn {
        DbConn::Pg(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
        }
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
        }
    }?;
    Ok(depth.is_some())
}

/// Runs `f` in a transaction on `conn`: see [`Store::transaction`].
///
/// On SQLite the outermost transaction also waits for this process's turn
/// to write (a mutex per store) before `BEGIN IMMEDIATE`. SQLite has one
/// writer at a time, and a writer that finds the lock taken sleeps and
/// polls (its busy handler backs off to 100 ms naps), so under contention
/// a few writers wait far longer than the queue is deep: 16 concurrent
/// questionnaire submits had a p99 near one second at a p50 of 18 ms
/// (BENCHMARKS.md). The mutex wakes the next writer as soon as the last
/// one has committed. The busy timeout still covers other processes (the
/// CLI) and single-statement writes outside a transaction.
///
/// The turn is not reentrant: work inside a write transaction must not
/// take a second connection of the same store and write there (it would
/// wait for itself; without the turn it waited out SQLite's busy timeout
/// and failed instead).
pub(crate) fn transaction_on<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let DbConn::Sqlite(c) = conn else {
        return conn.transaction(f);
    };
    let outermost = AnsiTransactionManager::transaction_manager_status_mut(c)
        .transaction_depth()?
        .is_none();
    // Only the outermost: the thread already holds the turn inside it (and
    // a nested BEGIN fails below in any case).
    let turn = if outermost {
        TURN.with(|t| t.borrow().clone())
    } else {
        None
    };
    let _held = turn
        .as_ref()
        .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner));
    sqlite_transaction(conn, "BEGIN IMMEDIATE", f)
}

/// Runs `f`, which only reads, in a transaction that takes no write lock,
/// so that it sees one moment (the consent gate and what it lets through)
/// without waiting for writers or making them wait. On SQLite a deferred
/// `BEGIN`: in WAL mode it reads one snapshot while writers go on. `f`
/// must not write: on SQLite a deferred transaction that tries to write
/// after another connection committed fails at once ("database is
/// locked") instead of waiting.
pub(crate) fn read_transaction_on<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !matches!(conn, DbConn::Sqlite(_)) {
        return conn.transaction(f);
    }
    sqlite_transaction(conn, "BEGIN", f)
}

/// `f` between `begin` and COMMIT (ROLLBACK when it fails) on SQLite.
fn sqlite_transaction<T>(
    conn: &mut DbConn,
    begin: &str,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // The derived multi-connection delegates transaction state to the
    // inner connection, so beginning and ending on the inner SQLite
    // connection keeps nested `transaction` calls (savepoints) working.
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, begin)?;
    }
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        unreachable!("only called with a SQLite connection");
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

/// A migrated in-memory SQLite database without foreign-key checks, for
/// unit tests about one table's rows (no account rows needed).
#[cfg(test)]
pub(crate) fn memory_db() -> DbConn {
    let mut conn = SqliteConnection::establish(":memory:").expect("an in-memory database");
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .expect("migrations");
    conn.batch_execute("PRAGMA foreign_keys = OFF")
        .expect("pragma");
    DbConn::Sqlite(conn)
}

/// A fresh directory path under the system's temporary directory, unique
/// to this process and call (not created), for unit tests that need files.
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "mestring-{name}-{}-{}",
        std::process::id(),
        mestring_domain::id::Id::generate().as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::{Store, pg_reason};
    use crate::error::StoreError;
    use crate::url::DatabaseUrl;

    /// A connection whose work failed as lost leaves the pool; one whose
    /// work failed otherwise goes back to it.
    #[test]
    fn a_connection_lost_under_its_work_is_not_handed_out_again() {
        let dir = super::test_dir("lost");
        let url = DatabaseUrl::parse(&format!("sqlite://{}/db.sqlite", dir.display()))
            .expect("a SQLite URL");
        let store = Store::connect(&url, 2).expect("store");
        let open = || store.pool().expect("open").state().connections;
        assert_eq!(open(), 1, "connect opens one connection");
        let failed: Result<(), _> = store.run_blocking(|_| Err(StoreError::NotFound));
        assert!(matches!(failed, Err(StoreError::NotFound)));
        assert_eq!(open(), 1, "an ordinary failure keeps the connection");
        let lost: Result<(), _> =
            store.run_blocking(|_| Err(StoreError::Unavailable("lost".into())));
        assert!(matches!(lost, Err(StoreError::Unavailable(_))));
        assert_eq!(open(), 0, "a lost connection is dropped");
        store.run_blocking(|_| Ok(())).expect("a new connection");
        assert_eq!(open(), 1, "and replaced when next needed");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The bundled SQLite is built with the flags in `.cargo/config.toml`
    /// (docs/scaling.md): without the shared page-cache group and the
    /// memory statistics, whose process-wide mutexes every connection
    /// waited on, and with a query plan that does not depend on bound
    /// values, so that a cached statement is not prepared again each time
    /// (every `.first()` binds its LIMIT, and SQLite otherwise re-plans on
    /// every new LIMIT binding). A build that lost the flags fails here.
    #[test]
    fn the_bundled_sqlite_is_built_for_many_connections() {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").expect("in memory");
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .expect("compile options")
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        let has = |name: &str| options.iter().any(|o| o == name);
        assert!(has("ENABLE_QPSG"), "{options:?}");
        assert!(has("DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(!has("ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
        assert!(has("THREADSAFE=1"), "{options:?}");
    }

    #[test]
    fn pg_reason_drops_the_address_and_keeps_the_reason() {
        let msg = "connection to server at \"10.1.2.3\", port 5433 failed: Connection refused\n\
                   \tIs the server running on that host and accepting TCP/IP connections?\n";
        let reason = pg_reason(msg);
        assert!(
            !reason.contains("10.1.2.3") && !reason.contains("5433"),
            "{reason}"
        );
        assert!(reason.starts_with("Connection refused"), "{reason}");
        assert_eq!(
            pg_reason("FATAL:  the database system is starting up"),
            "FATAL:  the database system is starting up"
        );
    }
}
