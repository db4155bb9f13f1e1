//! The IP layer end to end: throttling per address, sealed security log,
//! break-glass reveal, blocks.

use crate::helpers::{ServerProcess, TestApp, TestDb, backends, run_cli};

#[actix_web::test]
async fn twenty_failures_from_one_address_throttle_it_but_not_another() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let attacker = app.client_from("127.0.0.2");
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let stranger = mestring_domain::access_code::AccessCode::generate().reveal();
            statuses.push(attacker.login(&stranger).await);
        }
        // The documented default: ten failures a minute from one source,
        // so the eleventh and every later one in the burst is refused.
        let per_minute = mestring_domain::policy::throttle::LOGIN
            .per_tag_per_minute
            .get() as usize;
        assert_eq!(per_minute, 10);
        let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
        let mut expected = vec![422; per_minute];
        expected.resize(20, 429);
        assert_eq!(codes, expected);
        let first = &statuses[per_minute];
        let retry: u64 = first
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!(retry >= 1);
        assert!(first.body.contains("For mange forsøk"));
        // Even the right code is refused from the throttled address…
        assert_eq!(attacker.login(&code).await.status, 429);
        // …while another address logs in.
        let other = app.client_from("127.0.0.3");
        assert_eq!(other.login(&code).await.status, 303);
        // After the wait, the first address may try again.
        app.clock.advance(chrono::Duration::seconds(
            i64::try_from(retry).expect("small") + 61,
        ));
        assert_eq!(attacker.login(&code).await.status, 303);
    }
}

#[actix_web::test]
async fn break_glass_reveals_sealed_addresses_and_is_audited() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        let server = ServerProcess::start(&db, &[], &[]).await;
        for ip in ["127.0.0.2", "127.0.0.3"] {
            let c = server.client_from(ip);
            let stranger = mestring_domain::access_code::AccessCode::generate().reveal();
            assert_eq!(c.login(&stranger).await.status, 422);
        }
        db.wait_for_security_events(2).await;
        drop(server);

        let out = run_cli(
            &db,
            &["ip", "reveal", "--reason", "test", "--kind", "failed_login"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "stdout: {text} stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (line, ip) in lines.iter().zip(["127.0.0.2", "127.0.0.3"]) {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "time kind ip: {line}");
            assert_eq!(parts[1], "failed_login");
            assert_eq!(parts[2], ip);
            assert!(chrono::DateTime::parse_from_rfc3339(parts[0]).is_ok());
        }

        let refused = run_cli(&db, &["ip", "reveal", "--reason", ""]);
        assert!(!refused.status.success(), "a reason is required");

        let audit = run_cli(&db, &["audit", "list"]);
        let audit = String::from_utf8_lossy(&audit.stdout);
        assert!(
            audit.contains("ip_reveal rows=2 reason=\"test\""),
            "{audit}"
        );
        assert_eq!(
            audit.matches("ip_reveal").count(),
            1,
            "the refused reveal revealed nothing"
        );
    }
}

#[actix_web::test]
async fn a_blocked_address_gets_403_and_unblocking_lifts_it() {
    for backend in backends() {
        let db = TestDb::new(backend);
        let server = ServerProcess::start(&db, &[], &[("MESTRING_MAINTENANCE_SECS", "1")]).await;
        let out = run_cli(&db, &["ip", "block", "127.0.0.2", "--for", "1h"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let blocked = server.client_from("127.0.0.2");
        let other = server.client_from("127.0.0.3");
        let mut status = 0;
        for _ in 0..40 {
            status = blocked.get("/login").await.status;
            if status == 403 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 403, "block applied within seconds");
        // The 403 page carries the same security headers as every page.
        let refused = blocked.get("/login").await;
        for name in [
            "content-security-policy",
            "x-frame-options",
            "x-content-type-options",
            "referrer-policy",
        ] {
            assert!(refused.header(name).is_some(), "blocked page lacks {name}");
        }
        assert_eq!(other.get("/login").await.status, 200);

        assert!(
            run_cli(&db, &["ip", "unblock", "127.0.0.2"])
                .status
                .success()
        );
        for _ in 0..40 {
            status = blocked.get("/login").await.status;
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "unblock applied within seconds");
    }
}

/// Audit finding 5: `ip block` and `ip unblock` change the block and
/// write its audit row in one transaction. When the audit row cannot be
/// written (a trigger refuses it here), nothing changes: re-blocking does
/// not lift or shorten the block it replaces, and unblocking does not
/// lift it without an audit row.
#[actix_web::test]
async fn a_block_change_without_its_audit_row_changes_nothing() {
    use diesel::connection::SimpleConnection;
    use mestring_store::security::{AuditRow, IpBlocks};
    for backend in backends() {
        let db = TestDb::new(backend);
        let out = run_cli(&db, &["ip", "block", "127.0.0.2"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = mestring_store::DatabaseUrl::parse(&db.url).expect("url");
        let store = mestring_store::Store::connect(&url, 1).expect("connect");
        let refuse = crate::helpers::refusing_trigger(backend, "audit_log", "INSERT");
        store
            .run(move |conn| {
                conn.batch_execute(&refuse)
                    .map_err(mestring_store::StoreError::from)
            })
            .await
            .expect("trigger");

        // The block for good: still active two hours from now (a block
        // for an hour would not be).
        let still_blocked = || {
            let later = chrono::Utc::now() + chrono::Duration::hours(2);
            store.run(move |conn| IpBlocks::active(conn, later))
        };
        // Re-blocking for an hour fails on the audit row and leaves the
        // block as it was…
        let out = run_cli(&db, &["ip", "block", "127.0.0.2", "--for", "1h"]);
        assert!(!out.status.success(), "the audit row was refused");
        assert_eq!(
            still_blocked().await.expect("read").len(),
            1,
            "re-blocking changed the block without an audit row ({backend:?})"
        );
        // …and so does unblocking.
        let out = run_cli(&db, &["ip", "unblock", "127.0.0.2"]);
        assert!(!out.status.success(), "the audit row was refused");
        assert_eq!(
            still_blocked().await.expect("read").len(),
            1,
            "unblocking lifted the block without an audit row ({backend:?})"
        );
        let audit = store.run(AuditRow::list).await.expect("read");
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["ip_block"], "only the first block, audited");
    }
}
