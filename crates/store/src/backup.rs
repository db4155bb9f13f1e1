//! What `mestring backup` and `mestring restore` need from the database:
//! a consistent SQLite copy, an emptiness check, and the account ids the
//! deletion ledger is matched against.

use diesel::prelude::*;

use crate::schema::staff;
use crate::schema::{accounts, organisations};
use crate::{DbConn, StoreError};

/// Writes a consistent, compacted copy of a SQLite database to `target`
/// (`VACUUM INTO`: one read transaction, so writers are not stopped and
/// the copy is a single point in time). `Unavailable` on PostgreSQL,
/// which is backed up with `pg_dump`.
pub fn sqlite_copy_into(conn: &mut DbConn, target: &str) -> Result<(), StoreError> {
    match conn {
        DbConn::Sqlite(c) => {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target)
                .execute(c)?;
            Ok(())
        }
        DbConn::Pg(_) => Err(StoreError::Unavailable("VACUUM INTO is SQLite only".into())),
    }
}

/// Whether the database holds no organisation, account or staff member
/// (a fresh installation a backup may be restored into).
pub fn holds_no_data(conn: &mut DbConn) -> Result<bool, StoreError> {
    let orgs: i64 = organisations::table.count().get_result(conn)?;
    let accounts: i64 = accounts::table.count().get_result(conn)?;
    let staff: i64 = staff::table.count().get_result(conn)?;
    Ok(orgs + accounts + staff == 0)
}

/// Every account id.
pub fn account_ids(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    accounts::table
        .select(accounts::id)
        .load(conn)
        .map_err(StoreError::from)
}

/// How many tables PostgreSQL's `public` schema holds (a restore needs an
/// empty database: `pg_restore` recreates every table). 0 on SQLite.
pub fn pg_table_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .get_result::<Count>(c)
        .map(|r| r.n)
        .map_err(StoreError::from),
        DbConn::Sqlite(_) => Ok(0),
    }
}
