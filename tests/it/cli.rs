//! The operator's command line: organisations and code issuing.

use std::collections::HashSet;

use crate::helpers::{Backend, TestDb, backends, copy_dir, run_cli};

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn is_code_format(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 4
        && groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
        })
}

fn create_org(db: &TestDb, name: &str) -> String {
    crate::helpers::cli_create_org(db, name)
}

#[test]
fn org_create_prints_the_id_and_codes_issue_prints_a_thousand_distinct_codes() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        let org = create_org(&db, "Klinikk Nord");
        assert_eq!(org.len(), 26, "id: {org}");

        let out = stdout(&run_cli(
            &db,
            &["codes", "issue", "--org", &org, "--count", "1000"],
        ));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1000, "nothing but codes on stdout");
        assert!(
            lines.iter().all(|l| is_code_format(l)),
            "format XXXX-XXXX-XXXX-XXXX"
        );
        let distinct: HashSet<&str> = lines.iter().copied().collect();
        assert_eq!(distinct.len(), 1000);
        for line in &lines[..3] {
            assert!(mestring_domain::access_code::AccessCode::parse(line).is_ok());
        }
    }
}

#[test]
fn org_list_shows_every_organisation_oldest_first() {
    for backend in backends() {
        let db = TestDb::new(backend);
        let empty = run_cli(&db, &["org", "list"]);
        assert!(empty.status.success());
        assert!(empty.stdout.is_empty(), "nothing on stdout when empty");
        let first = create_org(&db, "Klinikk Sør");
        let second = create_org(&db, "DPS\nMidt");
        let out = stdout(&run_cli(&db, &["org", "list"]));
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!((lines[0][0], lines[0][2]), (first.as_str(), "Klinikk Sør"));
        // A control character in a name is shown escaped, on one line.
        assert_eq!((lines[1][0], lines[1][2]), (second.as_str(), "DPS\\nMidt"));
        assert_eq!(lines[0][1].len(), "2026-12-03".len());
    }
}

#[test]
fn codes_issue_refuses_bad_arguments_with_clear_messages() {
    let db = TestDb::new(Backend::Sqlite);
    let org = create_org(&db, "Klinikk Sør");
    let cases: [(&[&str], &str); 3] = [
        (
            &["codes", "issue", "--org", "not-an-id", "--count", "1"],
            "not a valid organisation id",
        ),
        (
            &["codes", "issue", "--org", &org, "--count", "0"],
            "--count must be between",
        ),
        (
            &[
                "codes",
                "issue",
                "--org",
                "0000000000000000000000000a",
                "--count",
                "1",
            ],
            "no organisation with that id",
        ),
    ];
    for (args, message) in cases {
        let out = run_cli(&db, args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "no partial output on stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn migrate_is_idempotent() {
    for backend in backends() {
        let db = TestDb::new(backend);
        for _ in 0..2 {
            let out = run_cli(&db, &["migrate"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[actix_web::test]
async fn serve_demo_prints_a_code_a_newcomer_can_log_in_with() {
    let db = TestDb::new(Backend::Sqlite);
    let server = crate::helpers::ServerProcess::start(&db, &["--demo"], &[]).await;
    let code = server
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("demo code: ").map(str::to_owned))
        .expect("a `demo code:` line");
    assert!(is_code_format(&code));
    let c = server.client();
    assert_eq!(c.login(&code).await.status, 303);
    assert_eq!(c.get("/app").await.status, 200);
}

#[test]
fn content_check_passes_on_what_ships_and_names_the_file_of_a_broken_copy() {
    let db = TestDb::new(Backend::Sqlite);
    let ok = run_cli(&db, &["content", "check"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let broken = db.dir.path().join("content");
    copy_dir(&crate::helpers::workspace_root().join("content"), &broken);
    let gad7 = broken.join("questionnaires").join("gad7.toml");
    let text = std::fs::read_to_string(&gad7).expect("gad7");
    // Drop the English title: a missing translation.
    let en_at = text.find("en = ").expect("an English text");
    let line_end = text[en_at..].find('\n').map_or(text.len(), |i| en_at + i);
    std::fs::write(&gad7, format!("{}{}", &text[..en_at], &text[line_end..])).expect("write");

    let mut cmd = crate::helpers::cli_command(&db, &["content", "check"]);
    cmd.env("MESTRING_CONTENT_DIR", &broken);
    let out = cmd.output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("questionnaires/gad7.toml"),
        "names the file: {err}"
    );

    // The server refuses to start on it, with the same message.
    let mut serve = crate::helpers::cli_command(&db, &["serve"]);
    serve
        .env("MESTRING_CONTENT_DIR", &broken)
        .env("MESTRING_LISTEN", "127.0.0.1:0");
    let out = serve.output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("questionnaires/gad7.toml"));
}
