//! Crypto-shredding (issue 13 §1, promise 5 on every backend): what a user
//! wrote is sealed under their own data key; after they delete their
//! account and the key-encryption keys rotate, no file of the database
//! cluster or the data directory holds their text or anything that opens
//! it. A backup taken before the deletion, restored, keeps them deleted.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use mestring_crypto::shred::{KekRing, wrapped_kek_id};
use mestring_domain::id::Id;

use crate::helpers::{Backend, TestApp, TestDb, backends, cli_command, contains_bytes};

/// Every regular file under `dir`, recursively (files that vanish while
/// we walk, as other tests drop their databases, are skipped).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}

/// The files in `dirs` that contain `needle`.
fn files_containing(dirs: &[PathBuf], needle: &[u8]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| files_under(d))
        .filter(|f| std::fs::read(f).is_ok_and(|b| contains_bytes(&b, needle)))
        .collect()
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-c", sql, url])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The directories holding everything the database wrote: the SQLite
/// temp directory (database, WAL, and the data directory with the keys),
/// or the PostgreSQL cluster's data directory (heap files and `pg_wal`)
/// plus the app's data directory.
fn database_dirs(db: &TestDb) -> Vec<PathBuf> {
    match db.backend {
        Backend::Sqlite => vec![db.dir.path().to_owned()],
        Backend::Postgres => {
            // Flush every dirty page to the heap files first, so the scan
            // sees what the server holds, not only what the WAL does.
            psql(&db.url, "CHECKPOINT");
            vec![
                PathBuf::from(psql(&db.url, "SHOW data_directory")),
                db.dir.path().to_owned(),
            ]
        }
    }
}

async fn write_marker_texts(c: &crate::helpers::Client, marker: &str) {
    let r = c
        .post(
            "/app/registrations/daily-checkin/new",
            &[
                ("mood", "6"),
                ("worry", "2"),
                ("sleep", "good"),
                ("activity", "some"),
                ("note", &format!("{marker}-note")),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "registration saved: {}", r.body);
    let r = c
        .post(
            "/app/feedback/suggest",
            &[("topic", "other"), ("body", &format!("{marker}-feedback"))],
        )
        .await;
    assert_eq!(r.status, 303, "feedback saved: {}", r.body);
}

fn data_dir(app: &TestApp) -> PathBuf {
    app.db.dir.path().join("data")
}

#[actix_web::test]
async fn after_deletion_and_rotation_no_file_holds_the_text_or_a_key_that_opens_it() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        let marker = format!("SHRED{}", Id::generate().as_str().to_uppercase());
        write_marker_texts(&c, &marker).await;
        c.answer_all("phq9", 9, "2").await;

        // Positive controls: the texts open for the user...
        assert!(c.get("/app/registrations").await.body.contains(&marker));
        let export = c.get("/settings/export.json").await;
        assert!(
            export.body.contains(&format!("{marker}-feedback")),
            "export holds the feedback text: {}",
            export.body
        );
        // ...and the account has a data key, wrapped under KEK 1.
        let account = app.account_of(&code).await;
        let acc = account.clone();
        let wrapped = app
            .state
            .store
            .run(move |conn| mestring_store::account_keys::wrapped_of(conn, &acc))
            .await
            .expect("read")
            .expect("the account has a data key");
        assert_eq!(wrapped_kek_id(&wrapped), Some(1));
        let data_key = app
            .state
            .keks
            .unwrap_key(account.as_str(), &wrapped)
            .expect("ring")
            .expect("opens while the account lives");
        let dirs = database_dirs(&app.db);
        assert_eq!(
            files_containing(&dirs, marker.as_bytes()),
            Vec::<PathBuf>::new(),
            "sealed at rest: the text is in no file even before deletion"
        );
        assert!(
            !files_containing(&dirs, &wrapped).is_empty() || backend == Backend::Sqlite,
            "the wrapped key is found by the scan on PostgreSQL (so the scan can see rows)"
        );

        // A second user stays, so rotation has a live key to re-wrap.
        let other_code = app.issue_code().await;
        let other = app.client();
        assert_eq!(other.login(&other_code).await.status, 303);
        write_marker_texts(&other, &format!("{marker}KEEP")).await;

        let r = c.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));

        // Rotation on the test clock: a new KEK after 12 hours, the old one
        // destroyed once retired for the grace period.
        let data = data_dir(&app);
        app.clock.advance(Duration::hours(13));
        mestring_server::jobs::run_once(&app.state, 30, &data)
            .await
            .expect("sweep 1");
        let ring = KekRing::load(&data.join("data-keys")).expect("ring");
        assert_eq!(ring.current().map(|c| c.0), Some(2), "a new KEK");
        app.clock.advance(Duration::minutes(11));
        mestring_server::jobs::run_once(&app.state, 30, &data)
            .await
            .expect("sweep 2");
        let ring = KekRing::load(&data.join("data-keys")).expect("ring");
        assert_eq!(
            ring.ids().iter().map(|k| k.0).collect::<Vec<_>>(),
            vec![2],
            "KEK 1 destroyed"
        );

        // The remaining user's data still opens (re-wrapped under KEK 2);
        // their session ran out while the clock moved.
        assert_eq!(other.login(&other_code).await.status, 303);
        let kept = other.get("/app/registrations").await.body;
        assert!(kept.contains(&format!("{marker}KEEP-note")), "{kept}");

        // Nothing left can open the deleted account's key: no KEK file
        // opens the wrapped bytes, and the raw key is in no file.
        assert!(ring.unwrap_key(account.as_str(), &wrapped).is_none());
        let dirs = database_dirs(&app.db);
        assert_eq!(
            files_containing(&dirs, marker.as_bytes()),
            Vec::<PathBuf>::new(),
            "marker after deletion ({backend:?})"
        );
        assert_eq!(
            files_containing(&dirs, data_key.expose()),
            Vec::<PathBuf>::new(),
            "the raw data key ({backend:?})"
        );
        assert_eq!(
            files_containing(&dirs, hex::encode(data_key.expose()).as_bytes()),
            Vec::<PathBuf>::new(),
            "the data key in hex ({backend:?})"
        );
    }
}

#[actix_web::test]
async fn a_backup_restored_after_a_deletion_keeps_the_account_deleted() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let (gone_code, kept_code) = (app.issue_code().await, app.issue_code().await);
        let gone = app.client();
        assert_eq!(gone.login(&gone_code).await.status, 303);
        let kept = app.client();
        assert_eq!(kept.login(&kept_code).await.status, 303);
        let marker = format!("BACKUP{}", Id::generate().as_str().to_uppercase());
        write_marker_texts(&gone, &format!("{marker}GONE")).await;
        write_marker_texts(&kept, &format!("{marker}KEPT")).await;

        let backup = app.db.dir.path().join("backup");
        let out = cli_command(&app.db, &["backup", backup.to_str().expect("utf-8")])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again = cli_command(&app.db, &["backup", backup.to_str().expect("utf-8")])
            .output()
            .expect("runs");
        assert!(!again.status.success(), "a used directory is refused");
        assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

        let r = gone.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));

        // Restore into a new, empty database with the same data directory
        // (where the deletion ledger is).
        let target = TestDb::new(backend);
        let restore = |url: &str| {
            cli_command(&app.db, &["restore", backup.to_str().expect("utf-8")])
                .env("MESTRING_DATABASE_URL", url)
                .output()
                .expect("runs")
        };
        let target_url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}",
                target.dir.path().join("restored.sqlite3").display()
            ),
            Backend::Postgres => target.url.clone(),
        };
        let out = restore(&target_url);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("deletions re-applied from the ledger: 1"),
            "{err}"
        );
        // Into a database that now holds data: refused, nothing changed.
        let twice = restore(&target_url);
        assert!(!twice.status.success());

        // A server on the restored database: the kept user and their text
        // are back, the deleted one is not, and the organisation sees the
        // deletion record.
        let server = crate::helpers::ServerProcess::start(
            &app.db,
            &[],
            &[("MESTRING_DATABASE_URL", &target_url)],
        )
        .await;
        let c = server.client();
        assert_eq!(c.login(&kept_code).await.status, 303);
        let list = c.get("/app/registrations").await.body;
        assert!(list.contains(&format!("{marker}KEPT-note")), "{list}");
        assert_eq!(
            server.client().login(&gone_code).await.status,
            422,
            "the deleted code stays deleted"
        );
        if backend == Backend::Postgres {
            assert_eq!(
                psql(&target_url, "SELECT count(*) FROM deletion_records"),
                "1"
            );
        }
        drop(server);
        drop(target);
    }
}
