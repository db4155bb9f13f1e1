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

use crate::helpers::{Backend, TestApp, TestDb, backends, cli_command, contains_bytes, free_port};

/// Every regular file under `dir`, recursively (files that vanish while
/// we walk, as other tests drop their databases, are skipped).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_owned()];
    }
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

/// Everything the database wrote, as files and directories to scan: the
/// SQLite temp directory (database, WAL, and the data directory with the
/// keys), or every file of the PostgreSQL cluster's data directory (heap
/// files, `pg_wal`, `global`, the transaction status files, ...) except
/// the directories of the *other* databases in `base/` (other tests',
/// created and dropped meanwhile, which this test never writes to), plus
/// the app's data directory.
fn database_dirs(db: &TestDb) -> Vec<PathBuf> {
    match db.backend {
        Backend::Sqlite => vec![db.dir.path().to_owned()],
        Backend::Postgres => {
            // Flush every dirty page to the heap files first, so the scan
            // sees what the server holds, not only what the WAL does.
            psql(&db.url, "CHECKPOINT");
            let cluster = PathBuf::from(psql(&db.url, "SHOW data_directory"));
            let own = psql(
                &db.url,
                "SELECT oid FROM pg_database WHERE datname = current_database()",
            );
            let mut out: Vec<PathBuf> = std::fs::read_dir(&cluster)
                .expect("the cluster's data directory (run as its owner or root)")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n != "base"))
                .collect();
            out.push(cluster.join("base").join(own));
            out.push(db.dir.path().to_owned());
            out
        }
    }
}

async fn write_marker_texts(c: &crate::helpers::Client, marker: &str) {
    let r = c.save_checkin(&format!("{marker}-note")).await;
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

/// The account's data key as stored, wrapped.
async fn wrapped_key(app: &TestApp, account: &Id) -> Vec<u8> {
    let acc = account.clone();
    app.state
        .store
        .run(move |conn| mestring_store::account_keys::wrapped_of(conn, &acc))
        .await
        .expect("read")
        .expect("the account has a data key")
}

/// The key-encryption keys on disk now.
fn keks_on_disk(app: &TestApp) -> KekRing {
    KekRing::load(&data_dir(app).join("data-keys")).expect("ring")
}

/// A logged-in user who wrote a feedback text and a registration note,
/// both carrying a fresh marker: (code, client, marker).
async fn user_who_wrote(app: &TestApp, prefix: &str) -> (String, crate::helpers::Client, String) {
    let code = app.issue_code().await;
    let c = app.client();
    assert_eq!(c.login(&code).await.status, 303);
    let marker = format!("{prefix}{}", Id::generate().as_str().to_uppercase());
    write_marker_texts(&c, &marker).await;
    (code, c, marker)
}

/// The sweep 13 hours on (a new KEK, keys re-wrapped), then 11 minutes on
/// (the retired KEK past its grace, destroyed).
async fn rotate_and_destroy(app: &TestApp) {
    let data = data_dir(app);
    app.clock.advance(Duration::hours(13));
    mestring_server::jobs::run_once(&app.state, 30, &data)
        .await
        .expect("sweep 1");
    app.clock.advance(Duration::minutes(11));
    mestring_server::jobs::run_once(&app.state, 30, &data)
        .await
        .expect("sweep 2");
}

#[actix_web::test]
async fn after_deletion_and_rotation_no_file_holds_the_text_or_a_key_that_opens_it() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let (code, c, marker) = user_who_wrote(&app, "SHRED").await;
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
        let wrapped = wrapped_key(&app, &account).await;
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
        rotate_and_destroy(&app).await;
        let ring = keks_on_disk(&app);
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

        let backup = take_backup(&app);
        let again = cli_command(&app.db, &["backup", backup.to_str().expect("utf-8")])
            .output()
            .expect("runs");
        assert!(!again.status.success(), "a used directory is refused");
        assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

        let r = gone.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));

        // Restore into a new, empty database with the same data directory
        // (where the deletion ledger is).
        let (target, target_url) = restore_target(backend);
        let backup = backup.to_str().expect("utf-8");
        let (ok, err) = run_on(&app, &target_url, &["restore", backup]);
        assert!(ok, "{err}");
        assert!(
            err.contains("deletions re-applied from the ledger: 1"),
            "{err}"
        );
        // Into a database that now holds data: refused, nothing changed.
        let (twice, _) = run_on(&app, &target_url, &["restore", backup]);
        assert!(!twice);

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

/// `mestring backup` of the app's database into a new directory.
fn take_backup(app: &TestApp) -> PathBuf {
    let backup = app.db.dir.path().join("backup");
    let out = cli_command(&app.db, &["backup", backup.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    backup
}

/// A new, empty database to restore into, and its URL (SQLite: a file
/// that does not exist yet).
fn restore_target(backend: Backend) -> (TestDb, String) {
    let target = TestDb::new(backend);
    let url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            target.dir.path().join("restored.sqlite3").display()
        ),
        Backend::Postgres => target.url.clone(),
    };
    (target, url)
}

/// `mestring ARGS` with the app's data directory (where the deletion
/// ledger is) on the database at `url`: (success, stderr).
fn run_on(app: &TestApp, url: &str, args: &[&str]) -> (bool, String) {
    let out = cli_command(&app.db, args)
        .env("MESTRING_DATABASE_URL", url)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `sql` on the database at `url`.
async fn execute(url: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    let parsed = mestring_store::DatabaseUrl::parse(url).expect("url");
    let store = mestring_store::Store::connect(&parsed, 1).expect("connect");
    let statement = sql.to_owned();
    store
        .run(move |conn| {
            conn.batch_execute(&statement)
                .map_err(mestring_store::StoreError::from)
        })
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every account id in the database at `url`.
async fn account_ids_in(url: &str) -> Vec<String> {
    let parsed = mestring_store::DatabaseUrl::parse(url).expect("url");
    let store = mestring_store::Store::connect(&parsed, 1).expect("connect");
    store
        .run(mestring_store::backup::account_ids)
        .await
        .expect("read")
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Starts `mestring serve` on the database at `url`, which must refuse
/// to start; returns what it printed. (A server that does start is
/// stopped, and the test fails.)
async fn serve_refuses(app: &TestApp, url: &str) -> String {
    let err_path = app
        .db
        .dir
        .path()
        .join(format!("refused-{}.err", Id::generate()));
    let mut child = cli_command(&app.db, &["serve"])
        .env("MESTRING_DATABASE_URL", url)
        .env("MESTRING_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("starts");
    let printed = || std::fs::read_to_string(&err_path).unwrap_or_default();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(!status.success(), "{}", printed());
            return printed();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the server started on a database whose restore did not finish: {}",
        printed()
    );
}

/// Audit finding 1 (`mestring restore` not resumable): a restore that
/// stops after the database is back and before the deletion ledger is
/// re-applied (a crash, or here an error: the ledger file's permissions
/// make it unreadable) leaves the deleted account in the database. Nothing
/// may use that database until the restore is finished: every command and
/// the server refuse while it cannot be, naming what to do, and the next
/// start finishes it once it can. The deleted code never logs in again.
#[cfg(unix)]
#[actix_web::test]
async fn a_restore_that_stops_before_the_ledger_never_lets_a_deleted_account_back() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let (gone_code, kept_code) = (app.issue_code().await, app.issue_code().await);
        let gone = app.client();
        assert_eq!(gone.login(&gone_code).await.status, 303);
        let backup = take_backup(&app);
        let backup = backup.to_str().expect("utf-8");
        let r = gone.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));

        let ledger = data_dir(&app).join("deletions.ledger");
        set_mode(&ledger, 0o640);
        let (target, url) = restore_target(backend);
        let (ok, err) = run_on(&app, &url, &["restore", backup]);
        assert!(!ok, "the ledger cannot be read: {err}");
        assert!(err.contains("deletions.ledger"), "{err}");

        // The database holds the deleted account: no command runs on it…
        let (ok, err) = run_on(&app, &url, &["org", "list"]);
        assert!(!ok, "a command ran on a restore that did not finish: {err}");
        assert!(
            err.contains("did not finish") && err.contains("`mestring restore`"),
            "{err}"
        );
        // …and the server does not start.
        let refused = serve_refuses(&app, &url).await;
        assert!(refused.contains("did not finish"), "{refused}");
        assert!(
            data_dir(&app).join("restore.pending").exists(),
            "the marker stays"
        );

        // Once the ledger is readable, the next start finishes the restore
        // before it serves.
        set_mode(&ledger, 0o600);
        let server =
            crate::helpers::ServerProcess::start(&app.db, &[], &[("MESTRING_DATABASE_URL", &url)])
                .await;
        assert_eq!(
            server.client().login(&gone_code).await.status,
            422,
            "the deleted code stays deleted"
        );
        assert_eq!(server.client().login(&kept_code).await.status, 303);
        let printed = String::from_utf8_lossy(&server.output()).into_owned();
        assert!(
            printed.contains("the earlier restore is finished"),
            "{printed}"
        );
        assert!(!data_dir(&app).join("restore.pending").exists());
        drop(server);
        // Finished: the database holds data, and restoring into it again
        // is refused as for any other.
        let (ok, err) = run_on(&app, &url, &["restore", backup]);
        assert!(!ok);
        assert!(!err.contains("had not finished"), "{err}");
        drop(target);
    }
}

/// Audit finding 1, the re-application itself: one recorded deletion
/// that cannot be re-applied (a trigger carried in the backup refuses it)
/// does not keep the other deleted accounts alive. The restore deletes
/// them all, fails at the end, and run again once the cause is gone it
/// finishes the same restore instead of refusing a database that holds
/// data.
#[actix_web::test]
async fn a_deletion_that_cannot_be_reapplied_does_not_stop_the_others() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let kept_code = app.issue_code().await;
        let mut deleted = Vec::new();
        for _ in 0..3 {
            let code = app.issue_code().await;
            let c = app.client();
            assert_eq!(c.login(&code).await.status, 303);
            let id = app.account_of(&code).await.as_str().to_owned();
            deleted.push((code, c, id));
        }
        // The one the restore comes to first (the database's order, which
        // the backup keeps) is the one that cannot be deleted.
        let order = app
            .state
            .store
            .run(mestring_store::backup::account_ids)
            .await
            .expect("ids");
        let stuck = order
            .iter()
            .find(|id| deleted.iter().any(|(_, _, d)| d == *id))
            .expect("a deleted account")
            .clone();
        let trigger = match backend {
            Backend::Sqlite => format!(
                "CREATE TRIGGER keep_one BEFORE DELETE ON accounts WHEN old.id = '{stuck}' \
                 BEGIN SELECT RAISE(ABORT, 'kept by the test'); END;"
            ),
            Backend::Postgres => format!(
                "CREATE FUNCTION keep_one() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'kept by the test'; END $$; \
                 CREATE TRIGGER keep_one BEFORE DELETE ON accounts FOR EACH ROW \
                 WHEN (OLD.id = '{stuck}') EXECUTE FUNCTION keep_one();"
            ),
        };
        execute(&app.db.url, &trigger).await;
        let backup = take_backup(&app);
        let backup = backup.to_str().expect("utf-8");
        for (_, c, id) in &deleted {
            let r = c.post("/settings/delete", &[("confirm", "yes")]).await;
            if *id != stuck {
                assert_eq!(r.location(), Some("/deleted"));
            }
            // The stuck one fails here too, after the ledger recorded it.
        }

        let (target, url) = restore_target(backend);
        let (ok, err) = run_on(&app, &url, &["restore", backup]);
        assert!(!ok, "{err}");
        let left = account_ids_in(&url).await;
        for (_, _, id) in &deleted {
            assert_eq!(
                left.contains(id),
                *id == stuck,
                "only the stuck one is left: {err}"
            );
        }
        assert_eq!(left.len(), 2, "the stuck one and the kept one");
        assert!(
            err.contains(
                "1 deletion(s) recorded in the deletion ledger could not be re-applied (2 were)"
            ),
            "{err}"
        );

        // The cause gone, the same restore again finishes the first one.
        let drop_trigger = match backend {
            Backend::Sqlite => "DROP TRIGGER keep_one;",
            Backend::Postgres => "DROP TRIGGER keep_one ON accounts;",
        };
        execute(&url, drop_trigger).await;
        let (ok, err) = run_on(&app, &url, &["restore", backup]);
        assert!(ok, "{err}");
        assert!(err.contains("had not finished"), "{err}");
        assert!(
            err.contains("deletions re-applied from the ledger: 1"),
            "{err}"
        );
        assert!(err.contains("restored the backup taken"), "{err}");
        assert_eq!(account_ids_in(&url).await.len(), 1);

        let server =
            crate::helpers::ServerProcess::start(&app.db, &[], &[("MESTRING_DATABASE_URL", &url)])
                .await;
        for (code, _, _) in &deleted {
            assert_eq!(server.client().login(code).await.status, 422);
        }
        assert_eq!(server.client().login(&kept_code).await.status, 303);
        drop(server);
        drop(target);
    }
}

/// Issue 17 on PostgreSQL too: a note the user edited away was sealed
/// under a data key that the edit replaced; once the key-encryption keys
/// rotate, the old key's wrapped copy (left in old pages and the WAL)
/// opens with no key file, and its raw bytes are in no file.
#[actix_web::test]
async fn an_edited_away_note_stops_opening_once_the_keys_rotate() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let (code, c, marker) = user_who_wrote(&app, "EDITED").await;
        let account = app.account_of(&code).await;
        let old_wrapped = wrapped_key(&app, &account).await;
        let old_key = app
            .state
            .keks
            .unwrap_key(account.as_str(), &old_wrapped)
            .expect("ring")
            .expect("opens");

        let list = c.get("/app/registrations").await.body;
        let edit = list
            .split("href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with("/app/registrations/entries/") && h.ends_with("/edit"))
            .expect("an edit link")
            .to_owned();
        let r = c
            .post(
                &edit,
                &[
                    ("mood", "5"),
                    ("worry", "1"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                    ("note", "ny tekst"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let list = c.get("/app/registrations").await.body;
        assert!(list.contains("ny tekst") && !list.contains(&format!("{marker}-note")));
        // The feedback sealed before the edit still opens (re-sealed).
        let export = c.get("/settings/export.json").await.body;
        assert!(export.contains(&format!("{marker}-feedback")));

        // Deleting an entry gives the account a new key too.
        let after_edit = wrapped_key(&app, &account).await;
        assert_ne!(after_edit, old_wrapped, "the edit replaced the data key");
        let delete = edit.replace("/edit", "/delete");
        assert_eq!(c.post(&delete, &[]).await.status, 303);
        assert_ne!(
            wrapped_key(&app, &account).await,
            after_edit,
            "the deletion replaced it again"
        );
        let export = c.get("/settings/export.json").await.body;
        assert!(
            export.contains(&format!("{marker}-feedback")),
            "still opens"
        );

        rotate_and_destroy(&app).await;
        // The user's current data still opens (checked before the file
        // scan, which can take longer than the server keeps an idle
        // connection open).
        assert_eq!(c.login(&code).await.status, 303);
        let export = c.get("/settings/export.json").await.body;
        assert!(export.contains(&format!("{marker}-feedback")));
        let ring = keks_on_disk(&app);
        assert!(
            ring.unwrap_key(account.as_str(), &old_wrapped).is_none(),
            "the replaced key's wrapped copy no longer opens"
        );
        let dirs = database_dirs(&app.db);
        assert_eq!(
            files_containing(&dirs, old_key.expose()),
            Vec::<PathBuf>::new(),
            "the replaced data key ({backend:?})"
        );
        assert_eq!(
            files_containing(&dirs, marker.as_bytes()),
            Vec::<PathBuf>::new(),
            "the text ({backend:?})"
        );
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// An installation upgraded from a version that stored texts in clear:
/// `mestring migrate` seals them under the accounts' keys and empties the
/// clear columns; the user still sees and exports everything.
#[actix_web::test]
async fn clear_text_left_by_an_older_version_is_sealed_by_migrate() {
    use diesel::RunQueryDsl;
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        let account = app.account_of(&code).await;
        let marker = format!("OLDVERSION{}", Id::generate().as_str().to_uppercase());
        let (entry, feedback, response) = (Id::generate(), Id::generate(), Id::generate());
        let sql = [
            format!(
                "INSERT INTO registration_entries (id, account_id, registration_id, form_version, \
                 created_at) VALUES ('{entry}', '{account}', 'daily-checkin', 1, \
                 '2026-12-01 10:00:00')"
            ),
            format!(
                "INSERT INTO registration_values (entry_id, account_id, field_id, kind, \
                 category_id, text_value) VALUES ('{entry}', '{account}', 'note', 'note', '', \
                 '{marker}-note')"
            ),
            format!(
                "INSERT INTO feedback (id, account_id, kind, topic, body, created_at) VALUES \
                 ('{feedback}', '{account}', 'suggestion', 'other', '{marker}-feedback', \
                 '2026-12-01 10:00:00')"
            ),
            format!(
                "INSERT INTO questionnaire_responses (id, account_id, questionnaire_id, \
                 questionnaire_version, total, band_id, flags, prorated, completed_at) VALUES \
                 ('{response}', '{account}', 'gad7', 1, 7, 'mild', '', false, \
                 '2026-12-01 10:00:00')"
            ),
        ]
        .into_iter()
        .chain((1..=7).map(|i| {
            format!(
                "INSERT INTO questionnaire_answers (response_id, account_id, item_id, \
                 option_value, weight) VALUES ('{response}', '{account}', 'gad7-{i}', 1, 1)"
            )
        }))
        .collect::<Vec<_>>();
        app.state
            .store
            .run(move |conn| {
                for s in &sql {
                    diesel::sql_query(s.as_str()).execute(conn)?;
                }
                Ok(())
            })
            .await
            .expect("an older version's rows");

        let out = cli_command(&app.db, &["migrate"]).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("sealed 3 values an older version stored in clear"),
            "{err}"
        );
        let clear = app
            .state
            .store
            .run(|conn| {
                let n = |conn: &mut mestring_store::DbConn, sql: &str| {
                    diesel::sql_query(sql)
                        .load::<Count>(conn)
                        .map(|r| r.first().map_or(0, |c| c.n))
                };
                Ok(n(
                    conn,
                    "SELECT count(*) AS n FROM registration_values WHERE text_value IS NOT NULL",
                )? + n(conn, "SELECT count(*) AS n FROM feedback WHERE body <> ''")?
                    + n(conn, "SELECT count(*) AS n FROM questionnaire_answers")?)
            })
            .await
            .expect("counts");
        assert_eq!(clear, 0, "no clear value left");
        assert!(
            !contains_bytes(&app.db.dump_bytes(), marker.as_bytes()),
            "the database's current rows hold no clear text"
        );
        // Running it again seals nothing more.
        let again = cli_command(&app.db, &["migrate"]).output().expect("runs");
        assert!(!String::from_utf8_lossy(&again.stderr).contains("sealed"));

        let list = c.get("/app/registrations").await.body;
        assert!(list.contains(&format!("{marker}-note")), "{list}");
        let export = c.get("/settings/export.json").await.body;
        assert!(export.contains(&format!("{marker}-feedback")));
        let json: serde_json::Value = serde_json::from_str(&export).expect("json");
        let answers = json["data"]["questionnaire_responses"][0]["answers"]
            .as_array()
            .map(Vec::len);
        assert_eq!(answers, Some(7));

        // An operator's rotation: a new KEK at once, the key re-wrapped.
        let out = cli_command(&app.db, &["keys", "rotate-data"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(err.contains("new current key-encryption key: 2"), "{err}");
        assert!(err.contains("data keys re-wrapped: 1"), "{err}");
        let list = c.get("/app/registrations").await.body;
        assert!(
            list.contains(&format!("{marker}-note")),
            "after rotation: {list}"
        );
    }
}
