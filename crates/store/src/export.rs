//! Everything held about an account, for the right of access and
//! portability.
//!
//! The export is driven by the schema itself: every table with an
//! `account_id` column is included, so a table added later cannot be
//! forgotten. Columns that hold secrets or other people's identities
//! (`*_hash`, sealed values, the staff member behind a view) are left out.

use diesel::prelude::*;
use diesel::sql_types::Text;
use mestring_domain::id::Id;
use serde_json::{Map, Value};

use crate::{DbConn, StoreError};

/// One table's rows about the account.
#[derive(Debug, Clone)]
pub struct ExportTable {
    /// Table name (also the key in the JSON export).
    pub name: String,
    /// Column names, in table order, without the excluded ones.
    pub columns: Vec<String>,
    /// One JSON object per row.
    pub rows: Vec<Map<String, Value>>,
}

/// Whether a column is left out of every export.
fn excluded(column: &str) -> bool {
    column.ends_with("_hash")
        || column.contains("sealed")
        || column == "pseudonym"
        || column == "staff_id"
        || column == "secret"
}

#[derive(QueryableByName)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    column_type: String,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    j: String,
}

/// Tables and their columns, in a stable order.
fn columns(conn: &mut DbConn) -> Result<Vec<ColumnInfo>, StoreError> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS column_type \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name NOT LIKE '__diesel%' ORDER BY m.name, p.cid"
        }
        DbConn::Pg(_) => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             data_type::text AS column_type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%' \
             ORDER BY table_name, ordinal_position"
        }
    };
    diesel::sql_query(sql).load(conn).map_err(StoreError::from)
}

/// Names of the tables that hold rows about an account (`account_id`).
pub fn account_tables(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let mut tables: Vec<String> = columns(conn)?
        .into_iter()
        .filter(|c| c.column_name == "account_id")
        .map(|c| c.table_name)
        .collect();
    tables.dedup();
    Ok(tables)
}

/// Rows of `table` where `key_column` equals `id`, as JSON objects.
fn rows_as_json(
    conn: &mut DbConn,
    table: &str,
    key_column: &str,
    cols: &[&ColumnInfo],
    id: &str,
) -> Result<Vec<Map<String, Value>>, StoreError> {
    // Identifiers come from the schema catalogue, not from users; quoting
    // keeps unusual names safe anyway.
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let raw: Vec<JsonRow> = match conn {
        DbConn::Sqlite(c) => {
            let fields: Vec<String> = cols
                .iter()
                .map(|col| {
                    let value = if col.column_type.eq_ignore_ascii_case("BLOB") {
                        format!("hex({})", q(&col.column_name))
                    } else {
                        q(&col.column_name)
                    };
                    format!("'{}', {}", col.column_name.replace('\'', "''"), value)
                })
                .collect();
            let sql = format!(
                "SELECT json_object({}) AS j FROM {} WHERE {} = ?",
                fields.join(", "),
                q(table),
                q(key_column)
            );
            diesel::sql_query(sql).bind::<Text, _>(id).load(c)?
        }
        DbConn::Pg(c) => {
            let sql = format!(
                "SELECT row_to_json(t)::text AS j FROM {} t WHERE {} = $1",
                q(table),
                q(key_column)
            );
            diesel::sql_query(sql).bind::<Text, _>(id).load(c)?
        }
    };
    raw.into_iter()
        .map(|r| match serde_json::from_str::<Value>(&r.j) {
            Ok(Value::Object(mut m)) => {
                m.retain(|k, _| !excluded(k));
                Ok(m)
            }
            _ => Err(StoreError::Corrupt("export row")),
        })
        .collect()
}

/// Everything about an account: its own row (as table `accounts`) and
/// every table with an `account_id` column.
pub fn export_account(conn: &mut DbConn, account: &Id) -> Result<Vec<ExportTable>, StoreError> {
    let all = columns(conn)?;
    let account_tables = account_tables(conn)?;
    let mut out = Vec::new();
    for (table, key) in std::iter::once(("accounts".to_owned(), "id"))
        .chain(account_tables.into_iter().map(|t| (t, "account_id")))
    {
        let cols: Vec<&ColumnInfo> = all.iter().filter(|c| c.table_name == table).collect();
        let rows = rows_as_json(conn, &table, key, &cols, account.as_str())?;
        out.push(ExportTable {
            columns: cols
                .iter()
                .map(|c| c.column_name.clone())
                .filter(|c| !excluded(c))
                .collect(),
            name: table,
            rows,
        });
    }
    Ok(out)
}

/// Number of rows in `table` whose `account_id` is `account` (for tests
/// that compare an export with the database).
pub fn count_rows(conn: &mut DbConn, table: &str, account: &Id) -> Result<i64, StoreError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let q = format!("\"{}\"", table.replace('"', "\"\""));
    let n: Vec<Count> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {q} WHERE account_id = ?"
        ))
        .bind::<Text, _>(account.as_str())
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {q} WHERE account_id = $1"
        ))
        .bind::<Text, _>(account.as_str())
        .load(c)?,
    };
    Ok(n.first().map_or(0, |c| c.n))
}
