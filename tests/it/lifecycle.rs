//! The process lives and dies cleanly: readiness during shutdown, SIGTERM
//! under load, and many short CLI runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb, backends, run_cli};

#[actix_web::test]
async fn readyz_turns_unready_and_answers_close_their_connection_once_shutdown_begins() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let ready = c.get("/readyz").await;
        assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));
        assert!(ready.header("connection").is_none_or(|v| v != "close"));

        app.lifecycle.begin_shutdown();
        let draining = c.get("/readyz").await;
        assert_eq!(
            (draining.status, draining.body.as_str()),
            (503, "shutting down")
        );
        assert_eq!(draining.header("connection"), Some("close"));
        // Liveness is unaffected: the process is healthy, only leaving.
        assert_eq!(c.get("/healthz").await.status, 200);
    }
}

/// One request of the load: when its bytes were written, when it ended,
/// and how (status and whether the page arrived whole, or the failure).
struct Record {
    written: Instant,
    ended: Instant,
    outcome: Result<(u16, bool), String>,
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; returns the
/// status, the body and whether the server asked to close the connection.
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(u16, String, bool), String> {
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Result<(), String> {
        line.clear();
        match r.read_line(line) {
            Ok(0) => Err("connection closed before the answer".to_owned()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    };
    read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut close) = (None, false);
    loop {
        read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let length = length.ok_or("no Content-Length")?;
    let mut body = vec![0; length];
    r.read_exact(&mut body)
        .map_err(|e| format!("body cut off: {e}"))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}

/// A logged-in client on its own thread, on raw keep-alive connections so
/// the moment a request's bytes are written is known exactly: GET /app
/// back to back until its connection is refused or `until` passes.
fn load(addr: String, cookie: String, until: Instant, records: Arc<Mutex<Vec<Record>>>) {
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut on_conn = 0;
    while Instant::now() < until {
        if conn.is_none() {
            on_conn = 0;
        }
        on_conn += 1;
        let r = match conn.as_mut() {
            Some(r) => r,
            None => match TcpStream::connect(&addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                    conn.insert(BufReader::new(s))
                }
                Err(e) => {
                    let now = Instant::now();
                    records.lock().expect("records").push(Record {
                        written: now,
                        ended: now,
                        outcome: Err(format!("refused: {e}")),
                    });
                    return;
                }
            },
        };
        let request = format!("GET /app HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
        if r.get_mut().write_all(request.as_bytes()).is_err() {
            // The server closed this idle connection before anything was
            // sent on it: no request started; open a new connection.
            conn = None;
            continue;
        }
        let written = Instant::now();
        let answer = read_response(r);
        let ended = Instant::now();
        let close = !matches!(answer, Ok((_, _, false)));
        records.lock().expect("records").push(Record {
            written,
            ended,
            outcome: answer
                .map(|(status, body, _)| (status, body.trim_end().ends_with("</html>")))
                .map_err(|e| format!("{e} (request {on_conn} on its connection)")),
        });
        if close {
            conn = None;
        }
    }
}

fn codes_for(db: &TestDb, count: usize) -> Vec<String> {
    let org = crate::helpers::cli_create_org(db, "Klinikk Vest");
    let out = run_cli(
        db,
        &[
            "codes",
            "issue",
            "--org",
            &org,
            "--count",
            &count.to_string(),
        ],
    );
    assert!(out.status.success(), "codes issue failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// SIGTERM under a steady load of logged-in page views from four clients:
/// every request sent before the signal gets a complete answer, the
/// listener is gone right after, and the process exits 0 well within the
/// grace period. Twenty rounds per database.
#[actix_web::test]
async fn sigterm_finishes_requests_in_flight_and_exits_zero() {
    const ROUNDS: usize = 20;
    const CLIENTS: usize = 4;
    const GRACE_SECS: u64 = 10;
    for backend in backends() {
        let db = TestDb::new(backend);
        let codes = codes_for(&db, CLIENTS);
        let mut spanning = 0usize;
        let mut before_signal = 0usize;
        for round in 0..ROUNDS {
            let grace = GRACE_SECS.to_string();
            let mut server =
                ServerProcess::start(&db, &[], &[("MESTRING_SHUTDOWN_GRACE_SECS", &grace)]).await;
            let records = Arc::new(Mutex::new(Vec::<Record>::new()));
            let mut loops = Vec::new();
            let addr = server.base.trim_start_matches("http://").to_owned();
            let until = Instant::now() + Duration::from_secs(GRACE_SECS + 5);
            for code in &codes {
                let c = server.client();
                assert_eq!(c.login(code).await.status, 303, "login on {backend:?}");
                let (addr, cookie, records) = (addr.clone(), c.cookie_header(), records.clone());
                loops.push(std::thread::spawn(move || {
                    load(addr, cookie, until, records)
                }));
            }
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;

            let signalled = Instant::now();
            server.signal("TERM");
            let status = server
                .wait_exit(Duration::from_secs(GRACE_SECS))
                .await
                .unwrap_or_else(|| panic!("round {round} on {backend:?}: no exit within grace"));
            assert_eq!(
                status.code(),
                Some(0),
                "round {round} on {backend:?}: {status:?}; stderr: {}",
                String::from_utf8_lossy(&server.output())
            );
            let log = String::from_utf8_lossy(&server.output()).into_owned();
            assert!(log.contains("SIGTERM"), "the shutdown was logged: {log}");
            for l in loops {
                l.join().expect("load thread");
            }
            assert!(
                TcpStream::connect(&addr).is_err(),
                "new connections are refused after shutdown"
            );

            let records = records.lock().expect("records");
            for r in records.iter().filter(|r| r.written < signalled) {
                before_signal += 1;
                if r.ended > signalled {
                    spanning += 1;
                }
                assert_eq!(
                    r.outcome,
                    Ok((200, true)),
                    "round {round} on {backend:?}: a request sent {:?} before the signal was cut off",
                    signalled - r.written
                );
            }
            assert!(
                records.iter().any(|r| r.written >= signalled),
                "the clients kept sending after the signal"
            );
        }
        eprintln!(
            "{backend:?}: {before_signal} requests sent before the signal, {spanning} of them still in flight when it came"
        );
        assert!(before_signal > ROUNDS * CLIENTS);
        // Over twenty rounds of back-to-back requests, some must have been
        // in flight at the signal, or the test proved nothing.
        assert!(spanning > 0, "no request was in flight at any signal");
    }
}

/// Many short CLI runs in a row, each exiting 0 (on PostgreSQL an exit
/// while a pool thread was inside libpq once crashed with SIGSEGV).
#[test]
fn two_hundred_cli_runs_in_a_row_all_exit_zero() {
    for backend in backends() {
        let runs = match backend {
            Backend::Postgres => 200,
            // The crash was PostgreSQL's; a shorter run keeps SQLite honest.
            Backend::Sqlite => 50,
        };
        let db = TestDb::new(backend);
        let org = crate::helpers::cli_create_org(&db, "Klinikk Øst");
        for i in 0..runs {
            let args: &[&str] = match i % 3 {
                0 => &["codes", "issue", "--org", &org, "--count", "2"],
                1 => &["audit", "list"],
                _ => &["org", "list"],
            };
            let out = run_cli(&db, args);
            assert!(
                out.status.code() == Some(0),
                "run {i} on {backend:?} ({args:?}) ended with {:?} (signal {:?}): {}",
                out.status,
                std::os::unix::process::ExitStatusExt::signal(&out.status),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The binary needs nothing from the source tree: started from an empty
/// directory with no content directory configured, `serve --demo` serves
/// the compiled-in programs and prints a code that logs in.
#[actix_web::test]
async fn serve_demo_runs_from_any_directory_with_the_built_in_content() {
    let db = TestDb::new(Backend::Sqlite);
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start_in(
        &db,
        &["--demo"],
        &[("MESTRING_CONTENT_DIR", "")],
        Some(elsewhere.path()),
    )
    .await;
    let code = server
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("demo code: ").map(str::to_owned))
        .expect("a `demo code:` line");
    let c = server.client();
    assert_eq!(c.login(&code).await.status, 303);
    let programs = c.get("/app/questionnaires/phq9").await;
    assert_eq!(programs.status, 200, "{}", programs.body);
    assert!(
        std::fs::read_dir(elsewhere.path())
            .expect("read dir")
            .next()
            .is_none(),
        "nothing was written to the working directory"
    );
}

/// The data directory is created 0700 and the SQLite files 0600, so other
/// users on the machine read neither keys nor data.
#[actix_web::test]
async fn the_data_directory_and_the_sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A failed login writes (a security event), so the WAL exists.
    app.client().login("AAAA-AAAA-AAAA-AAAA").await;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data_dir = app.db.dir.path().join("data");
    assert_eq!(mode(&data_dir), 0o700, "data directory");
    let db_file = app.db.dir.path().join("mestring.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db_file.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}
