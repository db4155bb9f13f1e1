//! No code, token or client address in the server's output or in the
//! database files, after real traffic through the real executable.

use crate::helpers::{ServerProcess, TestDb, backends, contains_bytes, run_cli};

#[actix_web::test]
async fn codes_and_addresses_never_reach_output_or_database_files() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        // Codes come from the CLI (whose job is to print them); the server
        // itself must never print one.
        let org = crate::helpers::cli_create_org(&db, "Personvernklinikken");
        let issued = run_cli(&db, &["codes", "issue", "--org", &org, "--count", "1"]);
        let code = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
        assert_eq!(code.len(), 19, "issued code");
        let server = ServerProcess::start(&db, &[], &[]).await;

        let addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
        let mut tokens = Vec::new();
        for ip in addresses {
            let c = server.client_from(ip);
            // Failures (sealed in the security log), then a success.
            for _ in 0..3 {
                let stranger = mestring_domain::access_code::AccessCode::generate().reveal();
                assert_eq!(c.login(&stranger).await.status, 422);
            }
            assert_eq!(c.login(&code.to_lowercase()).await.status, 303);
            assert_eq!(c.get("/app").await.status, 200);
            tokens.push(c.cookie("mestring_session").expect("session"));
            tokens.push(c.cookie("mestring_csrf").expect("csrf"));
            c.post("/logout", &[]).await;
        }
        // Let the security-log writes land, then stop the server so SQLite's
        // WAL holds whatever it holds.
        db.wait_for_security_events(addresses.len() * 3).await;
        let output = server.output();
        drop(server);

        let stored = db.dump_bytes();
        assert!(
            stored.len() > 1000,
            "scanned nothing: {} bytes",
            stored.len()
        );
        let plain: String = code.chars().filter(|c| *c != '-').collect();
        let mut needles: Vec<Vec<u8>> = vec![
            code.clone().into_bytes(),
            plain.clone().into_bytes(),
            plain.to_lowercase().into_bytes(),
        ];
        for t in &tokens {
            needles.push(t.clone().into_bytes());
        }
        for ip in addresses {
            needles.push(ip.as_bytes().to_vec());
            let raw: std::net::Ipv4Addr = ip.parse().expect("ip");
            needles.push(raw.octets().to_vec());
        }
        for needle in &needles {
            let shown = String::from_utf8_lossy(needle).into_owned();
            if contains_bytes(&output, needle) {
                let text = String::from_utf8_lossy(&output);
                let line = text
                    .lines()
                    .find(|l| l.contains(shown.as_str()))
                    .unwrap_or("(binary)");
                panic!("server output contains {shown:?}: {line}");
            }
            // Raw 4-byte addresses are checked in the database only: log
            // text is ASCII and cannot hold those bytes.
            assert!(
                !contains_bytes(&stored, needle),
                "database contains {shown:?} ({backend:?})"
            );
        }
        // The output was not empty: there is an access log to scan.
        assert!(String::from_utf8_lossy(&output).contains("route=/login"));
    }
}
