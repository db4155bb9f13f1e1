//! Helpers for tests that need a fresh PostgreSQL database.

use diesel::connection::SimpleConnection;

/// Creates a database named `name` through the admin URL (which must point
/// at an existing database such as `postgres`) and returns its URL.
///
/// `name` must be a plain identifier (ASCII letters, digits, `_`).
pub fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, String> {
    check_identifier(name)?;
    let mut conn = crate::conn::pg_establish(admin_url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .map_err(|e| e.to_string())?;
    Ok(replace_database(admin_url, name))
}

/// Drops a database created by [`create_postgres_database`], ending any
/// connections still open to it.
pub fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), String> {
    check_identifier(name)?;
    let mut conn = crate::conn::pg_establish(admin_url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .map_err(|e| e.to_string())
}

/// Runs `f` with the URL of a fresh PostgreSQL database named after
/// `prefix`, created through `MESTRING_TEST_POSTGRES_URL` and dropped
/// afterwards; does nothing when that variable is unset (the SQLite-only
/// run).
pub fn with_postgres_database(prefix: &str, f: impl FnOnce(&str)) {
    let Some(admin) = std::env::var("MESTRING_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
    else {
        return;
    };
    let name = format!("{prefix}_{}", mestring_domain::id::Id::generate().as_str());
    let url = create_postgres_database(&admin, &name).expect("a test database");
    f(&url);
    drop_postgres_database(&admin, &name).expect("drop the test database");
}

/// Whether another connection to this database waits for a lock
/// (PostgreSQL); `None` on SQLite, which cannot tell. Clears the
/// statistics snapshot first: PostgreSQL reads `pg_stat_activity` once per
/// transaction, and callers ask from inside one, repeatedly.
pub fn someone_waits(conn: &mut crate::DbConn) -> Option<bool> {
    use diesel::RunQueryDsl;
    let crate::DbConn::Pg(pg) = conn else {
        return None;
    };
    diesel::sql_query("SELECT pg_stat_clear_snapshot()")
        .execute(pg)
        .ok()?;
    let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock')",
    ))
    .get_result(pg)
    .ok()?;
    Some(waiting > 0)
}

/// Polls [`someone_waits`] until it says yes or `limit` passes.
pub fn until_someone_waits(conn: &mut crate::DbConn, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while someone_waits(conn) != Some(true) && start.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A race set up on purpose: `first` runs inside a transaction on `store`
/// and, once its writes are made, `second` starts on another thread
/// (`second` runs as given: wrap it in a transaction if it needs one).
/// `first` commits only when `second` waits for one of its locks
/// (PostgreSQL) or after 300 ms (SQLite, which cannot tell, and whose
/// `second` waits for the write lock anyway). Returns both results.
pub fn while_held<A, B>(
    store: &crate::Store,
    first: impl FnOnce(&mut crate::DbConn) -> Result<A, crate::StoreError> + Send + 'static,
    second: impl FnOnce(&mut crate::DbConn) -> Result<B, crate::StoreError> + Send + 'static,
) -> (Result<A, crate::StoreError>, Result<B, crate::StoreError>)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let other = {
        let store = store.clone();
        std::thread::spawn(move || {
            ready_rx.recv().expect("the first is in flight");
            store.run_blocking(second)
        })
    };
    let held = store.run_blocking(move |conn| {
        crate::conn::transaction_on(conn, |conn| {
            let out = first(conn)?;
            ready_tx.send(()).expect("start the second");
            let limit = match conn {
                crate::DbConn::Pg(_) => std::time::Duration::from_secs(10),
                crate::DbConn::Sqlite(_) => std::time::Duration::from_millis(300),
            };
            until_someone_waits(conn, limit);
            Ok(out)
        })
    });
    (held, other.join().expect("the second's thread"))
}

fn check_identifier(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err("database name must be a plain identifier".into())
    }
}

/// Swaps the database name (the path) of a `postgres://` URL.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..authority_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://h:5432?sslmode=disable", "t1"),
            "postgres://h:5432/t1?sslmode=disable"
        );
    }
}
