//! Everything held about an account, for the right of access and
//! portability.
//!
//! The export is driven by the schema itself: every table with an
//! `account_id` column is included, so a table added later cannot be
//! forgotten. Columns that hold secrets or other people's identities
//! (`*_hash`, the wrapped data key, the staff member behind a view) are
//! left out. What the account wrote is sealed under its data key
//! (`account_keys`): the export opens it and shows the text in place of
//! the sealed bytes.

use diesel::prelude::*;
use diesel::sql_types::Text;
use mestring_domain::id::Id;
use serde_json::{Map, Value};

use mestring_crypto::shred::{DataKey, SharedKekRing};

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
        || column == "wrapped"
}

/// The sealed columns the export opens: (table, sealed column, the
/// column the clear value is shown as).
const SEALED: [(&str, &str, &str); 3] = [
    ("feedback", "body_sealed", "body"),
    ("registration_values", "text_sealed", "text_value"),
    ("questionnaire_responses", "answers_sealed", "answers"),
];

/// The bytes of a BLOB/bytea column as the JSON rows carry them: hex from
/// SQLite's `hex()`, `\x…` from PostgreSQL's `row_to_json`.
fn blob_bytes(v: &Value) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    hex::decode(s.strip_prefix("\\x").unwrap_or(s))
        .ok()
        // SQLite's hex() turns NULL into an empty string; a sealed value
        // is never empty (it carries at least a nonce and a tag).
        .filter(|b| !b.is_empty())
}

fn text_of(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Replaces a row's sealed column by its opened value.
fn open_sealed(
    table: &str,
    row: &mut Map<String, Value>,
    key: Option<&DataKey>,
) -> Result<(), StoreError> {
    for (t, sealed_col, clear_col) in SEALED {
        if t != table {
            continue;
        }
        let Some(sealed) = row.remove(sealed_col).as_ref().and_then(blob_bytes) else {
            continue;
        };
        let opened = match table {
            "feedback" => Value::String(crate::account_keys::open_text(
                key,
                crate::account_keys::FEEDBACK_BODY,
                &text_of(row, "id"),
                &sealed,
            )?),
            "registration_values" => {
                let id = crate::account_keys::note_row_id(
                    &text_of(row, "entry_id"),
                    &text_of(row, "field_id"),
                );
                Value::String(crate::account_keys::open_text(
                    key,
                    crate::account_keys::REGISTRATION_NOTE,
                    &id,
                    &sealed,
                )?)
            }
            _ => {
                let id = text_of(row, "id");
                let json = key
                    .and_then(|k| k.open(crate::account_keys::RESPONSE_ANSWERS, &id, &sealed))
                    .ok_or(StoreError::Sealed(crate::account_keys::RESPONSE_ANSWERS))?;
                let items: Vec<crate::account_keys::SealedAnswer> =
                    serde_json::from_slice(&json)
                        .map_err(|_| StoreError::Corrupt(crate::account_keys::RESPONSE_ANSWERS))?;
                Value::Array(
                    items
                        .into_iter()
                        .map(|(item, value, weight)| {
                            serde_json::json!({"item_id": item, "option_value": value, "weight": weight})
                        })
                        .collect(),
                )
            }
        };
        row.insert(clear_col.to_owned(), opened);
    }
    Ok(())
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
    key: Option<&DataKey>,
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
                open_sealed(table, &mut m, key)?;
                m.retain(|k, _| !excluded(k));
                Ok(m)
            }
            _ => Err(StoreError::Corrupt("export row")),
        })
        .collect()
}

/// Everything about an account: its own row (as table `accounts`) and
/// every table with an `account_id` column, sealed values opened with the
/// account's data key from `ring`.
pub fn export_account(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
) -> Result<Vec<ExportTable>, StoreError> {
    crate::account_keys::read_consistently(conn, |conn| read_account(conn, ring, account))
}

fn read_account(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
) -> Result<Vec<ExportTable>, StoreError> {
    let key = crate::account_keys::for_reading(conn, ring, account)?;
    let all = columns(conn)?;
    let account_tables = account_tables(conn)?;
    let mut out = Vec::new();
    for (table, key_col) in std::iter::once(("accounts".to_owned(), "id"))
        .chain(account_tables.into_iter().map(|t| (t, "account_id")))
    {
        let cols: Vec<&ColumnInfo> = all.iter().filter(|c| c.table_name == table).collect();
        let rows = rows_as_json(conn, key.as_ref(), &table, key_col, &cols, account.as_str())?;
        let opened = SEALED
            .iter()
            .filter(|(t, _, clear)| *t == table && !cols.iter().any(|c| c.column_name == *clear))
            .map(|(_, _, clear)| (*clear).to_owned());
        out.push(ExportTable {
            columns: cols
                .iter()
                .map(|c| c.column_name.clone())
                .filter(|c| !excluded(c))
                .chain(opened)
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
