//! The failed-login throttle's state in the database, so that several
//! server nodes on one PostgreSQL spend one budget (docs/scaling.md).
//! SQLite serves one node and keeps the throttle in process memory
//! (`mestring_ipcrypt::IpState`); these functions work on both backends
//! all the same.
//!
//! One row per limit and key: the generic cell rate algorithm's
//! theoretical arrival time, decided by [`mestring_domain::gcra::step`],
//! and until when the key is throttled once a limit refused. Keys are
//! pseudonymous (the IP layer's daily tag, or `g` for everyone); nothing
//! here refers to an account or an address.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use mestring_domain::gcra::{self, Rate};

use crate::conn::transaction_on;
use crate::{DbConn, StoreError};

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = BigInt)]
    tat: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    throttled_until: Option<i64>,
}

#[derive(QueryableByName)]
struct Until {
    #[diesel(sql_type = Nullable<BigInt>)]
    until: Option<i64>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The latest moment until which any of `keys` is throttled, if that is
/// after `now`. One indexed read: the check before every login.
pub fn throttled_until(
    conn: &mut DbConn,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if keys.is_empty() {
        return Ok(None);
    }
    let mut q = throttle_query(conn, keys.len());
    q.push_str(" AND throttled_until > ");
    q.push_str(placeholder(conn, keys.len() + 1).as_str());
    let mut query = diesel::sql_query(q).into_boxed::<crate::conn::Db>();
    for k in keys {
        query = query.bind::<Text, _>(k.clone());
    }
    let rows: Vec<Until> = query.bind::<BigInt, _>(micros(now)).load(conn)?;
    Ok(rows.into_iter().filter_map(|r| r.until).max().map(instant))
}

fn placeholder(conn: &DbConn, n: usize) -> String {
    match conn {
        DbConn::Pg(_) => format!("${n}"),
        DbConn::Sqlite(_) => "?".to_owned(),
    }
}

fn throttle_query(conn: &DbConn, n: usize) -> String {
    let list: Vec<String> = (1..=n).map(|i| placeholder(conn, i)).collect();
    format!(
        "SELECT MAX(throttled_until) AS until FROM throttle_cells WHERE key IN ({})",
        list.join(", ")
    )
}

/// Spends one cell of each `(key, rate)` in order, in one transaction.
/// `Ok(Ok(()))` when every limit allowed it; `Ok(Err(until))` when one
/// refused: that key is then throttled until `until` (the cells before
/// it were spent, as the in-process limiter does; the ones after it are
/// untouched).
pub fn spend(
    conn: &mut DbConn,
    cells: &[(String, Rate)],
    now: DateTime<Utc>,
) -> Result<Result<(), DateTime<Utc>>, StoreError> {
    transaction_on(conn, |conn| {
        for (key, rate) in cells {
            let (insert, select, update, throttle) = match conn {
                DbConn::Pg(_) => (
                    "INSERT INTO throttle_cells (key, tat) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    // The row lock makes the nodes' read-decide-write of one
                    // key happen one at a time.
                    "SELECT tat, throttled_until FROM throttle_cells WHERE key = $1 FOR UPDATE",
                    "UPDATE throttle_cells SET tat = $1 WHERE key = $2",
                    "UPDATE throttle_cells SET throttled_until = $1 WHERE key = $2",
                ),
                // SQLite: `transaction_on` began with BEGIN IMMEDIATE, so
                // writers are already one at a time.
                DbConn::Sqlite(_) => (
                    "INSERT INTO throttle_cells (key, tat) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    "SELECT tat, throttled_until FROM throttle_cells WHERE key = ?",
                    "UPDATE throttle_cells SET tat = ? WHERE key = ?",
                    "UPDATE throttle_cells SET throttled_until = ? WHERE key = ?",
                ),
            };
            // A new key starts as "never seen": its arrival time is now.
            diesel::sql_query(insert)
                .bind::<Text, _>(key)
                .bind::<BigInt, _>(micros(now))
                .execute(conn)?;
            let cell: Cell = diesel::sql_query(select)
                .bind::<Text, _>(key)
                .get_result(conn)?;
            match gcra::step(*rate, Some(instant(cell.tat)), now) {
                Ok(tat) => {
                    diesel::sql_query(update)
                        .bind::<BigInt, _>(micros(tat))
                        .bind::<Text, _>(key)
                        .execute(conn)?;
                }
                Err(retry) => {
                    let until = cell.throttled_until.map_or(retry, instant).max(retry);
                    diesel::sql_query(throttle)
                        .bind::<BigInt, _>(micros(until))
                        .bind::<Text, _>(key)
                        .execute(conn)?;
                    return Ok(Err(until));
                }
            }
        }
        Ok(Ok(()))
    })
}

/// Deletes rows that no longer matter: arrival time and throttle both in
/// the past (the next failure starts the key afresh, which is what the
/// algorithm would decide anyway). Returns how many.
pub fn purge(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let sql = match conn {
        DbConn::Pg(_) => {
            "DELETE FROM throttle_cells WHERE tat < $1 AND (throttled_until IS NULL OR throttled_until < $1)"
        }
        DbConn::Sqlite(_) => {
            "DELETE FROM throttle_cells WHERE tat < ?1 AND (throttled_until IS NULL OR throttled_until < ?1)"
        }
    };
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(micros(now))
        .execute(conn)?)
}
