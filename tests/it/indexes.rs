//! Every hot query is on an index (issue 14's flatness target): on a
//! seeded PostgreSQL database with sequential scans disabled in the
//! planner, a user's and a clinician's and a tool manager's everyday
//! journey over HTTP must not scan any large table sequentially. With
//! `enable_seqscan = off` the planner still scans sequentially where no
//! index can serve a query, so a rising `pg_stat_user_tables.seq_scan`
//! count on a large table means a query that would read the whole table at
//! a million accounts.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::helpers::{
    Backend, ServerProcess, TestDb, backends, cli_command, printed, seed, seeded_staff,
};

/// Accounts seeded: enough that the per-account tables are "large".
const ACCOUNTS: &str = "1500";
/// A table with at least this many rows after seeding counts as large:
/// it grows with the number of accounts.
const LARGE: i64 = 1000;
/// PostgreSQL 15 flushes a backend's table statistics when it goes idle,
/// at the latest ten seconds later.
const STATS_FLUSH: Duration = Duration::from_secs(11);

#[derive(QueryableByName)]
struct TableScans {
    #[diesel(sql_type = Text)]
    relname: String,
    #[diesel(sql_type = BigInt)]
    seq_scan: i64,
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

fn scans(conn: &mut PgConnection) -> BTreeMap<String, (i64, i64)> {
    diesel::sql_query(
        "SELECT relname::text AS relname, seq_scan, n_live_tup AS rows FROM pg_stat_user_tables",
    )
    .load::<TableScans>(conn)
    .expect("table statistics")
    .into_iter()
    .map(|t| (t.relname, (t.seq_scan, t.rows)))
    .collect()
}

#[actix_web::test]
async fn the_everyday_journeys_scan_no_large_table() {
    let Some(backend) = backends().into_iter().find(|b| *b == Backend::Postgres) else {
        eprintln!(
            "the planner check needs PostgreSQL (MESTRING_TEST_POSTGRES_URL): not run on SQLite"
        );
        return;
    };
    let db = TestDb::new(backend);
    let seeded = seed(
        &db,
        &[
            "--accounts",
            ACCOUNTS,
            "--weeks",
            "20",
            "--orgs",
            "2",
            "--channel",
            "helsenorge",
        ],
    );
    let org = printed(&seeded, "org:");
    let issued = cli_command(&db, &["codes", "issue", "--org", &org, "--count", "1"])
        .output()
        .expect("codes issue runs");
    assert!(issued.status.success());
    let code = String::from_utf8_lossy(&issued.stdout).trim().to_owned();

    let mut admin = PgConnection::establish(&db.url).expect("connect");
    let name: String = diesel::select(diesel::dsl::sql::<Text>("current_database()"))
        .get_result(&mut admin)
        .expect("database name");
    diesel::sql_query(format!(
        "ALTER DATABASE \"{name}\" SET enable_seqscan = off"
    ))
    .execute(&mut admin)
    .expect("planner setting");
    diesel::sql_query("ANALYZE")
        .execute(&mut admin)
        .expect("analyze");

    // No maintenance pass during the journey: the first runs at start
    // (sweeps may read whole tables; they are not on the hot path).
    let server = ServerProcess::start(&db, &[], &[("MESTRING_MAINTENANCE_SECS", "3600")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::time::sleep(STATS_FLUSH).await;
    let before = scans(&mut admin);

    // A user: log in, say yes to sharing, home, results, a questionnaire,
    // a registration, settings.
    let u = server.client();
    assert_eq!(u.login(&code).await.status, 303);
    assert_eq!(u.post("/consent", &[("choice", "yes")]).await.status, 303);
    for page in ["/app", "/app/results", "/app/registrations", "/settings"] {
        assert_eq!(u.get(page).await.status, 200, "{page}");
    }
    u.answer_all("phq9", 9, "1").await;
    assert_eq!(u.save_checkin("index check").await.status, 303);
    assert_eq!(u.get("/app/results").await.status, 200);

    // A clinician: the overview, filtered and sorted, and a user page.
    let s = server.client();
    let clinician = seeded_staff(&seeded, "staff");
    assert_eq!(
        s.staff_login(&clinician, chrono::Utc::now())
            .await
            .location(),
        Some("/dashboard")
    );
    let overview = s.get("/dashboard").await;
    assert_eq!(overview.status, 200);
    for page in [
        "/dashboard?filter=sharing&sort=phq9",
        "/dashboard?filter=item9",
        "/dashboard?filter=deteriorated",
        "/dashboard?filter=inactive&sort=inactive",
    ] {
        assert_eq!(s.get(page).await.status, 200, "{page}");
    }
    let user = overview
        .body
        .split("href=\"/dashboard/users/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a user row links to the user page")
        .to_owned();
    assert_eq!(s.get(&format!("/dashboard/users/{user}")).await.status, 200);

    // A tool manager: the channel's group data.
    let m = server.client();
    let manager = seeded_staff(&seeded, "tool manager");
    assert_eq!(
        m.staff_login(&manager, chrono::Utc::now()).await.status,
        303
    );
    assert_eq!(m.get("/dashboard/channel").await.status, 200);

    tokio::time::sleep(STATS_FLUSH).await;
    let after = scans(&mut admin);
    let scanned: Vec<String> = after
        .iter()
        .filter(|(_, (_, rows))| *rows >= LARGE)
        .filter_map(|(table, (seq, rows))| {
            let was = before.get(table).map_or(0, |b| b.0);
            (*seq > was).then(|| format!("{table} ({rows} rows): {} sequential scans", seq - was))
        })
        .collect();
    let large = after.values().filter(|(_, rows)| *rows >= LARGE).count();
    assert!(
        large >= 5,
        "the seeded database has large tables: {after:?}"
    );
    assert!(
        scanned.is_empty(),
        "large tables read sequentially on the hot path (EXPLAIN the queries on them): {scanned:?}"
    );
}
