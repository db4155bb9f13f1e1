//! The database goes away: pages answer 503 with `Retry-After` (never 500),
//! `/readyz` says not ready, and on PostgreSQL the server recovers by itself
//! once the database is back. The real stop and start of a PostgreSQL
//! cluster is `tests/reliability/pg_outage.py`; here the outage is made
//! without touching the shared cluster (a closed pool, or a proxy that cuts
//! its connections).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use mestring_domain::content::Lang;
use mestring_server::clock::SystemClock;
use mestring_server::{Application, Config};
use mestring_web::i18n::Catalog;

use crate::helpers::{Backend, Client, Resp, TestApp, TestDb, backends, workspace_root};

/// What every page must look like while the database is unavailable.
fn assert_unavailable(r: &Resp, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    assert_eq!(r.header("retry-after"), Some("5"), "{what}");
    let nb = Catalog::get(Lang::Nb);
    assert!(
        r.body.contains(nb.t("error.unavailable_title")),
        "{what}: {}",
        r.body
    );
    let en = Catalog::get(Lang::En);
    assert!(
        r.body.contains(en.t("error.unavailable")),
        "{what}: {}",
        r.body
    );
}

#[actix_web::test]
async fn pages_answer_503_with_retry_after_when_the_database_is_unavailable() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        assert_eq!(c.get("/app").await.status, 200);
        assert_eq!(c.get("/readyz").await.status, 200);

        // Every later checkout fails as it does when the pool times out.
        app.state.store.close(Duration::from_secs(5)).await;
        assert_unavailable(&c.get("/app").await, "GET /app");
        let r = c
            .post(
                "/app/feedback/suggest",
                &[("topic", "other"), ("body", "Skriv mer om søvn")],
            )
            .await;
        assert_unavailable(&r, "POST feedback");
        let ready = c.get("/readyz").await;
        assert_eq!(
            (ready.status, ready.body.as_str()),
            (503, "database unreachable")
        );
        // The process itself is fine: liveness must not restart it.
        assert_eq!(c.get("/healthz").await.status, 200);
    }
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and
/// refuse new ones, and then let them through again.
struct CuttableProxy {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl CuttableProxy {
    fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("proxy addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    // Down: the connection is closed before a byte is read,
                    // as a stopping server does.
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    // Checked again under the list's lock, which `cut`
                    // holds while it sets `down` and closes the list: a
                    // connection accepted just before a cut is either in
                    // the list when it is closed or refused here, never
                    // left open through the outage.
                    let mut open = o.lock().expect("proxy list");
                    if d.load(Ordering::SeqCst) {
                        continue;
                    }
                    for s in [&client, &server] {
                        if let Ok(s) = s.try_clone() {
                            open.push(s);
                        }
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Self { port, down, open }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        let mut open = self.open.lock().expect("proxy list");
        self.down.store(true, Ordering::SeqCst);
        for s in open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on its own thread until either side closes.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

#[actix_web::test]
async fn a_postgres_outage_answers_503_and_the_server_recovers_without_a_restart() {
    // Only PostgreSQL has a server to lose; SQLite is a file in the process.
    for backend in backends().into_iter().filter(|b| *b == Backend::Postgres) {
        let db = TestDb::new(backend);
        // postgres://user@HOST:PORT/name -> the same through the proxy.
        let (head, rest) = db.url.split_once('@').expect("url with user");
        let (target, name) = rest.split_once('/').expect("url with database");
        let proxy = CuttableProxy::start(target.to_owned());
        let url = format!("{head}@127.0.0.1:{}/{name}", proxy.port);

        let data_dir = db.dir.path().join("data");
        let content = workspace_root().join("content");
        let config = Config::from_lookup(|k| match k {
            "MESTRING_DATABASE_URL" => Some(url.clone()),
            "MESTRING_LISTEN" => Some("127.0.0.1:0".into()),
            "MESTRING_DATA_DIR" => Some(data_dir.display().to_string()),
            "MESTRING_CONTENT_DIR" => Some(content.display().to_string()),
            "MESTRING_WORKERS" => Some("1".into()),
            _ => None,
        })
        .expect("config");
        let app = Application::build(config, Arc::new(SystemClock))
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());

        let (_batch, codes) = mestring_dashboard::codes::issue(
            &state.store,
            &state.pepper,
            Some(&state.seal),
            None,
            None,
            None,
            1,
            Utc::now(),
        )
        .await
        .expect("code issued");
        let c = Client::new(&base, None);
        assert_eq!(c.login(&codes[0].reveal()).await.status, 303);
        assert_eq!(c.get("/app").await.status, 200);

        proxy.cut();
        let started = Instant::now();
        assert_unavailable(&c.get("/app").await, "GET /app while down");
        // Bounded by the pool's timeout, not left hanging.
        let waited = started.elapsed();
        assert!(
            waited <= mestring_store::CONNECTION_TIMEOUT + Duration::from_secs(2),
            "the 503 took {waited:?}"
        );
        assert_eq!(c.get("/readyz").await.status, 503);

        proxy.restore();
        let back = Instant::now();
        let mut recovered = None;
        while back.elapsed() < Duration::from_secs(10) {
            if c.get("/app").await.status == 200 {
                recovered = Some(back.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let recovered = recovered.expect("pages work again without a restart");
        assert!(recovered <= Duration::from_secs(5), "took {recovered:?}");
        assert_eq!(c.get("/readyz").await.status, 200);
        handle.stop(false).await;
        state.store.close(Duration::from_secs(5)).await;
    }
}
