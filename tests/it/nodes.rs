//! Several server nodes on one database (docs/scaling.md): the same
//! codes, one throttle budget, the same blocks, migrations that do not
//! race, and key files that must be the database's.

use std::time::Duration;

use crate::helpers::{
    Backend, ServerProcess, TestApp, TestDb, backends, cli_command, cli_create_org, copy_dir,
    run_cli,
};

fn issue_code(db: &TestDb) -> String {
    let org = cli_create_org(db, "Klinikk Nord");
    let out = run_cli(db, &["codes", "issue", "--org", &org, "--count", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Two `mestring serve` processes on one PostgreSQL database (sharing the
/// key files, as nodes do through a shared volume or secret store),
/// started at the same moment on an empty database.
#[actix_web::test]
async fn two_nodes_on_one_postgresql_share_codes_throttle_and_blocks() {
    let Some(backend) = backends().into_iter().find(|b| *b == Backend::Postgres) else {
        eprintln!("two nodes need PostgreSQL (MESTRING_TEST_POSTGRES_URL): not run on SQLite");
        return;
    };
    let db = TestDb::new(backend);
    let env = [("MESTRING_MAINTENANCE_SECS", "1")];
    // Both migrate and create key files at once: the advisory lock and
    // the atomic key-file creation must make them agree.
    let (a, b) = tokio::join!(
        ServerProcess::start(&db, &[], &env),
        ServerProcess::start(&db, &[], &env)
    );

    // A code issued through the command line logs in through either node.
    let code = issue_code(&db);
    assert_eq!(b.client().login(&code).await.status, 303, "node B");
    assert_eq!(a.client().login(&code).await.status, 303, "node A");

    // Twenty failed logins from one address, alternating between the
    // nodes: the same ten-a-minute budget as on one node.
    let per_minute = mestring_domain::policy::throttle::LOGIN
        .per_tag_per_minute
        .get() as usize;
    let (ca, cb) = (a.client_from("127.0.0.2"), b.client_from("127.0.0.2"));
    let mut statuses = Vec::new();
    for i in 0..20 {
        let stranger = mestring_domain::access_code::AccessCode::generate().reveal();
        let c = if i % 2 == 0 { &ca } else { &cb };
        statuses.push(c.login(&stranger).await.status);
    }
    let mut expected = vec![422; per_minute];
    expected.resize(20, 429);
    assert_eq!(statuses, expected, "one budget across both nodes");
    // Throttled on both nodes, even with the right code; another address
    // is not.
    assert_eq!(ca.login(&code).await.status, 429);
    assert_eq!(cb.login(&code).await.status, 429);
    assert_eq!(b.client_from("127.0.0.3").login(&code).await.status, 303);

    // A block set through the command line applies on both nodes (each
    // reloads blocks every maintenance period, here one second).
    let out = run_cli(&db, &["ip", "block", "127.0.0.4", "--for", "1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for node in [&a, &b] {
        let blocked = node.client_from("127.0.0.4");
        let mut status = 0;
        for _ in 0..50 {
            status = blocked.get("/login").await.status;
            if status == 403 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 403, "blocked on {}", node.base);
        assert_eq!(
            node.client_from("127.0.0.5").get("/login").await.status,
            200
        );
    }
}

/// What `mestring serve` says when it refuses to start.
fn refused_start(db: &TestDb, data_dir: &std::path::Path) -> String {
    let out = cli_command(db, &["serve"])
        .env("MESTRING_DATA_DIR", data_dir)
        .env("MESTRING_LISTEN", "127.0.0.1:0")
        .output()
        .expect("serve runs");
    assert!(
        !out.status.success(),
        "a node with other key files must not start"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A node whose key files are missing or differ from the database's
/// refuses to start, naming the file, instead of making new keys.
#[actix_web::test]
async fn a_node_with_missing_or_other_key_files_refuses_to_start() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        assert_eq!(
            c.save_checkin("nodes").await.status,
            303,
            "an account data key exists"
        );
        let data = app.db.dir.path().join("data");

        // An empty data directory: every key is missing.
        let empty = app.db.dir.path().join("empty");
        let err = refused_start(&app.db, &empty);
        assert!(
            err.contains("is missing, but this database already holds data"),
            "{backend:?}: {err}"
        );
        assert!(
            !empty.join(mestring_server::keys::PEPPER_FILE).exists(),
            "no new pepper was made"
        );

        // Another pepper.
        let other = app.db.dir.path().join("other-pepper");
        copy_dir(&data, &other);
        let pepper = other.join(mestring_server::keys::PEPPER_FILE);
        std::fs::write(&pepper, hex::encode([9u8; 32])).expect("write pepper");
        let err = refused_start(&app.db, &other);
        assert!(
            err.contains("access-code pepper") && err.contains("is not the one this database"),
            "{backend:?}: {err}"
        );

        // Another key-encryption key under the same id.
        let other = app.db.dir.path().join("other-kek");
        copy_dir(&data, &other);
        let keks = other.join(mestring_server::keys::KEK_DIR);
        for entry in std::fs::read_dir(&keks).expect("kek dir").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("kek file");
            let created = text.split_whitespace().nth(1).expect("created").to_owned();
            std::fs::write(
                entry.path(),
                format!("{} {created}\n", hex::encode([7u8; 32])),
            )
            .expect("write kek");
        }
        let err = refused_start(&app.db, &other);
        assert!(
            err.contains("cannot open the data keys this database holds"),
            "{backend:?}: {err}"
        );

        // The same files (a copy) start fine.
        let same = app.db.dir.path().join("same");
        copy_dir(&data, &same);
        let ok = cli_command(&app.db, &["keys", "init"])
            .env("MESTRING_DATA_DIR", &same)
            .output()
            .expect("keys init runs");
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(String::from_utf8_lossy(&ok.stderr).contains("kept access-code pepper"));
    }
}
