//! The diesel schema (`src/schema.rs`) agrees with what the migrations
//! build, on SQLite and (when `MESTRING_TEST_POSTGRES_URL` is set) on
//! PostgreSQL: the same tables, the same columns, the same nullability and
//! compatible types. A migration added without its schema change, or a
//! schema edit without a migration, fails here, in CI, on both backends.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use mestring_store::{DatabaseUrl, DbConn, Store};

/// One column as declared: its diesel type (without `Nullable`) and
/// whether it may be NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    ty: String,
    nullable: bool,
}

type Tables = BTreeMap<String, BTreeMap<String, Column>>;

const SCHEMA_FILES: &[(&str, &str)] = &[("schema.rs", include_str!("../src/schema.rs"))];

/// Reads every `table! { name (pk) { col -> Type, … } }` in the schema files.
fn declared() -> Tables {
    let mut tables = Tables::new();
    for (file, text) in SCHEMA_FILES {
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_suffix('{').map(str::trim)
                && let Some((table, _pk)) = name.split_once(" (")
                && !table.contains(' ')
                && !table.contains('!')
            {
                current = Some(table.to_owned());
                tables.entry(table.to_owned()).or_default();
                continue;
            }
            if line == "}" {
                current = None;
                continue;
            }
            let (Some(table), Some((col, ty))) = (&current, line.split_once(" -> ")) else {
                continue;
            };
            let ty = ty.trim_end_matches(',').trim();
            let (ty, nullable) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (inner.trim_end_matches('>'), true),
                None => (ty, false),
            };
            let before = tables.entry(table.clone()).or_default().insert(
                col.trim().to_owned(),
                Column {
                    ty: ty.to_owned(),
                    nullable,
                },
            );
            assert!(before.is_none(), "{file}: {table}.{col} declared twice");
        }
    }
    assert!(tables.len() > 10, "the schema files did not parse");
    tables
}

#[derive(QueryableByName)]
struct DbColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
}

/// What the migrated database has, with types as the engine names them.
fn built(conn: &mut DbConn) -> Vec<DbColumn> {
    let query = match conn {
        DbConn::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name, upper(p.type) AS data_type,
                    CAST(p.\"notnull\" OR p.pk > 0 AS BIGINT) AS not_null
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '__diesel_schema_migrations'"
        }
        DbConn::Pg(_) => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name,
                    upper(data_type::text) AS data_type,
                    CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) AS not_null
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
        }
    };
    diesel::sql_query(query)
        .load::<DbColumn>(conn)
        .expect("introspection query")
}

/// Whether an engine's column type stores what the diesel type reads.
fn compatible(diesel_ty: &str, db_ty: &str) -> bool {
    let allowed: &[&str] = match diesel_ty {
        "Text" => &["TEXT", "CHARACTER VARYING"],
        "BigInt" => &["BIGINT", "INTEGER"],
        "Integer" => &["INTEGER"],
        "Bool" => &["BOOLEAN"],
        "Binary" => &["BLOB", "BYTEA"],
        "Timestamp" => &["TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"],
        _ => &[],
    };
    allowed.contains(&db_ty)
}

fn compare(backend: &str, declared: &Tables, built: &[DbColumn]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: Tables = Tables::new();
    for c in built {
        seen.entry(c.table_name.clone()).or_default().insert(
            c.column_name.clone(),
            Column {
                ty: c.data_type.clone(),
                nullable: c.not_null == 0,
            },
        );
    }
    for (table, columns) in declared {
        let Some(actual) = seen.get(table) else {
            problems.push(format!(
                "{backend}: table {table} is in the schema but no migration creates it"
            ));
            continue;
        };
        for (name, col) in columns {
            match actual.get(name) {
                None => problems.push(format!(
                    "{backend}: column {table}.{name} is in the schema but not in the database"
                )),
                Some(db) => {
                    if !compatible(&col.ty, &db.ty) {
                        problems.push(format!(
                            "{backend}: {table}.{name} is {} in the schema but {} in the database",
                            col.ty, db.ty
                        ));
                    }
                    if col.nullable != db.nullable {
                        problems.push(format!(
                            "{backend}: {table}.{name} is {} in the schema but {} in the database",
                            if col.nullable { "nullable" } else { "NOT NULL" },
                            if db.nullable { "nullable" } else { "NOT NULL" },
                        ));
                    }
                }
            }
        }
        for name in actual.keys().filter(|n| !columns.contains_key(*n)) {
            problems.push(format!(
                "{backend}: column {table}.{name} is in the database but not in the schema"
            ));
        }
    }
    for table in seen.keys().filter(|t| !declared.contains_key(*t)) {
        problems.push(format!(
            "{backend}: table {table} is in the database but not in the schema"
        ));
    }
    problems
}

fn check(backend: &str, url: &str) {
    let url = DatabaseUrl::parse(url).expect("test URL parses");
    let store = Store::connect(&url, 1).expect("connect");
    store.migrate().expect("migrations apply");
    let built = store
        .run_blocking(|conn| Ok(built(conn)))
        .expect("introspect");
    let problems = compare(backend, &declared(), &built);
    assert!(
        problems.is_empty(),
        "the schema and the migrations disagree:\n{}",
        problems.join("\n")
    );
}

/// SQLite always; PostgreSQL as well when `MESTRING_TEST_POSTGRES_URL` is
/// set (as in CI), like every end-to-end test.
#[test]
fn the_schema_matches_what_the_migrations_build() {
    let dir = std::env::temp_dir().join(format!("mestring-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    check(
        "SQLite",
        &format!("sqlite://{}", dir.join("schema.sqlite3").display()),
    );
    let _ = std::fs::remove_dir_all(&dir);

    if let Some(admin) = std::env::var("MESTRING_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        let name = format!("mestring_schema_{}", std::process::id());
        let url = mestring_store::testing::create_postgres_database(&admin, &name)
            .expect("create test database");
        check("PostgreSQL", &url);
        mestring_store::testing::drop_postgres_database(&admin, &name).expect("drop test database");
    }
}

#[test]
fn a_drifted_schema_is_reported() {
    // The comparison itself must be able to fail: a column the schema has
    // but the database lacks, a type and a nullability mismatch, and an
    // undeclared table.
    let mut declared = Tables::new();
    declared.entry("t".into()).or_default().insert(
        "a".into(),
        Column {
            ty: "Text".into(),
            nullable: false,
        },
    );
    declared.entry("t".into()).or_default().insert(
        "b".into(),
        Column {
            ty: "BigInt".into(),
            nullable: true,
        },
    );
    let col = |t: &str, c: &str, ty: &str, not_null: i64| DbColumn {
        table_name: t.into(),
        column_name: c.into(),
        data_type: ty.into(),
        not_null,
    };
    let built = [col("t", "a", "BLOB", 0), col("u", "x", "TEXT", 1)];
    let problems = compare("test", &declared, &built);
    assert_eq!(problems.len(), 4, "{problems:#?}");
}
