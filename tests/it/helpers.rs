//! Test harness: `TestApp` (the app in-process on port 0, with a clock the
//! test controls), `Client` (HTTP with a cookie jar), and helpers that run
//! the `mestring` executable as a separate process.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use mestring_domain::access_code::AccessCode;
use mestring_domain::clock::Clock;
use mestring_domain::id::Id;
use mestring_server::{Application, Config};
use mestring_store::organisations::OrganisationRow;
use mestring_web::AppState;
use tempfile::TempDir;

/// The database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL too when `MESTRING_TEST_POSTGRES_URL` is set.
/// A set but unreachable URL fails the test rather than skipping it.
/// The backends each test runs on: SQLite, plus PostgreSQL when
/// `MESTRING_TEST_POSTGRES_URL` is set. `MESTRING_TEST_BACKENDS=postgres`
/// (or `sqlite`) narrows that to one, so CI's PostgreSQL pass does not
/// repeat the SQLite pass.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        b.push(Backend::Postgres);
    }
    match std::env::var("MESTRING_TEST_BACKENDS").ok().as_deref() {
        Some("postgres") => {
            assert!(
                postgres_admin_url().is_some(),
                "MESTRING_TEST_BACKENDS=postgres needs MESTRING_TEST_POSTGRES_URL"
            );
            b.retain(|x| *x == Backend::Postgres);
        }
        Some("sqlite") => b.retain(|x| *x == Backend::Sqlite),
        Some("") | None => {}
        Some(other) => panic!("MESTRING_TEST_BACKENDS must be sqlite or postgres, not {other:?}"),
    }
    b
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("MESTRING_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A fresh database: a temp SQLite file, or a new PostgreSQL database that
/// is dropped when this value is.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub dir: TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("mestring.sqlite3").display());
                Self {
                    backend,
                    url,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("postgres url");
                let name = format!("mestring_test_{}", Id::generate());
                let url = mestring_store::testing::create_postgres_database(&admin, &name)
                    .unwrap_or_else(|e| {
                        panic!("MESTRING_TEST_POSTGRES_URL is set but unusable: {e}")
                    });
                Self {
                    backend,
                    url,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Waits (up to ten seconds) until the security log holds `n` rows;
    /// the server writes them off the request path.
    pub async fn wait_for_security_events(&self, n: usize) {
        let url = mestring_store::DatabaseUrl::parse(&self.url).expect("url");
        let store = mestring_store::Store::connect(&url, 1).expect("connect");
        let since = Utc::now() - Duration::days(1);
        let mut seen = 0;
        for _ in 0..100 {
            seen = store
                .run(move |conn| {
                    mestring_store::security::SecurityEventRow::list_since(conn, since, None)
                })
                .await
                .expect("read")
                .len();
            if seen >= n {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("expected {n} security events, found {seen}");
    }

    /// The SQLite file (and WAL) paths, for byte scans.
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        let main = self.dir.path().join("mestring.sqlite3");
        vec![main.clone(), main.with_extension("sqlite3-wal")]
    }

    /// Every byte the database holds as files we can scan: the SQLite
    /// file and WAL, or a `pg_dump` of the PostgreSQL database.
    pub fn dump_bytes(&self) -> Vec<u8> {
        match self.backend {
            Backend::Sqlite => self
                .sqlite_files()
                .iter()
                .filter_map(|p| std::fs::read(p).ok())
                .flatten()
                .collect(),
            Backend::Postgres => {
                let out = Command::new("pg_dump")
                    .arg("--data-only")
                    .arg(&self.url)
                    .output()
                    .expect("pg_dump runs");
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(name), Some(admin)) = (&self.pg_name, postgres_admin_url()) {
            let _ = mestring_store::testing::drop_postgres_database(&admin, name);
        }
    }
}

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct MockClock(Mutex<DateTime<Utc>>);

impl MockClock {
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().expect("clock lock");
        *t += d;
    }

    /// Moves the clock to `t` (forward or back).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = t;
    }
}

impl Clock for MockClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().expect("clock lock").trunc_subsecs(6)
    }
}

/// The app running in-process on a free port.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub clock: Arc<MockClock>,
    pub state: AppState,
    /// The app's shutdown switch.
    pub lifecycle: mestring_server::Lifecycle,
    handle: actix_web::dev::ServerHandle,
}

pub fn test_config(db: &TestDb, listen: &str) -> Config {
    let data_dir = db.dir.path().join("data");
    let url = db.url.clone();
    let listen = listen.to_owned();
    let content = workspace_root().join("content");
    Config::from_lookup(move |k| match k {
        "MESTRING_DATABASE_URL" => Some(url.clone()),
        "MESTRING_LISTEN" => Some(listen.clone()),
        "MESTRING_DATA_DIR" => Some(data_dir.display().to_string()),
        "MESTRING_CONTENT_DIR" => Some(content.display().to_string()),
        "MESTRING_WORKERS" => Some("1".into()),
        _ => None,
    })
    .expect("test config is valid")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let db = TestDb::new(backend);
        let clock = Arc::new(MockClock(Mutex::new(Utc::now().trunc_subsecs(6))));
        let app = Application::build(test_config(&db, "127.0.0.1:0"), clock.clone())
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let handle = app.handle();
        let lifecycle = app.lifecycle();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base,
            db,
            clock,
            state,
            lifecycle,
            handle,
        }
    }

    /// A new browser-like client (own cookie jar) from 127.0.0.1.
    pub fn client(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// A client whose connections come from `ip` (e.g. 127.0.0.2).
    pub fn client_from(&self, ip: &str) -> Client {
        Client::new(&self.base, Some(ip.parse().expect("ip")))
    }

    /// A new organisation and one code it issued for `program`.
    pub async fn org_with_code(&self, name: &str, program: &str) -> (Id, String) {
        let org = self.create_org(name).await;
        let code = self
            .issue_codes_for(Some(&org), Some(program), 1)
            .await
            .remove(0)
            .reveal();
        (org, code)
    }

    /// Fixture: an organisation.
    pub async fn create_org(&self, name: &str) -> Id {
        let name = name.to_owned();
        let now = self.clock.now();
        self.state
            .store
            .run(move |conn| OrganisationRow::insert(conn, &name, now))
            .await
            .expect("org created")
    }

    /// Fixture: codes issued by a new organisation for `program`.
    pub async fn issue_codes(&self, count: u32, program: Option<&str>) -> Vec<AccessCode> {
        let org = self.create_org("Testklinikken").await;
        self.issue_codes_for(Some(&org), program, count).await
    }

    /// Fixture: codes issued for `org` (none: a private code), the way
    /// `mestring codes issue` and the dashboard issue them.
    pub async fn issue_codes_for(
        &self,
        org: Option<&Id>,
        program: Option<&str>,
        count: u32,
    ) -> Vec<AccessCode> {
        let (_batch, codes) = mestring_dashboard::codes::issue(
            &self.state.store,
            &self.state.pepper,
            Some(&self.state.seal),
            org,
            None,
            program,
            count,
            self.clock.now(),
        )
        .await
        .expect("codes issued");
        codes
    }

    /// Fixture: one code.
    pub async fn issue_code(&self) -> String {
        self.issue_codes(1, None).await[0].reveal()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database is dropped with `db`.
        drop(self.handle.stop(false));
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// An HTTP client with a cookie jar, not following redirects.
pub struct Client {
    base: String,
    http: awc::Client,
    jar: RefCell<BTreeMap<String, String>>,
}

impl Client {
    pub fn new(base: &str, local: Option<IpAddr>) -> Self {
        let mut connector = awc::Connector::new().timeout(StdDuration::from_secs(10));
        if let Some(ip) = local {
            connector = connector.local_address(ip);
        }
        let http = awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .timeout(StdDuration::from_secs(30))
            .finish();
        Self {
            base: base.to_owned(),
            http,
            jar: RefCell::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.borrow().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.borrow_mut().insert(name.into(), value.into());
    }

    /// The `Cookie` header this client would send.
    pub fn cookie_header(&self) -> String {
        self.jar
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&self, headers: &[(String, String)]) {
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let first = v.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let expired = v.to_ascii_lowercase().contains("max-age=0");
            let mut jar = self.jar.borrow_mut();
            if expired || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    async fn send(
        &self,
        req: awc::ClientRequest,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut req = req.insert_header(("Cookie", self.cookie_header()));
        for (k, v) in extra {
            req = req.insert_header((*k, *v));
        }
        let sent = match form {
            Some(f) => req.send_form(&f).await,
            None => req.send().await,
        };
        let mut res = sent.expect("request sent");
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = res.body().limit(32 << 20).await.expect("body read");
        self.absorb(&headers);
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{}", self.base, path)), None, &[])
            .await
    }

    /// Answers every item `{questionnaire}-1..=items` with `value`; returns
    /// the result page the app redirects to.
    pub async fn answer_all(&self, questionnaire: &str, items: usize, value: &str) -> String {
        let fields: Vec<(String, String)> = (1..=items)
            .map(|i| (format!("{questionnaire}-{i}"), value.to_owned()))
            .collect();
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = self
            .post(&format!("/app/questionnaires/{questionnaire}"), &borrowed)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        r.location().expect("to the result").to_owned()
    }

    /// GET with extra request headers (e.g. `Accept-Language`).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(
            self.http.get(format!("{}{}", self.base, path)),
            None,
            headers,
        )
        .await
    }

    /// POST a form exactly as given (no CSRF token added).
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        self.send(
            self.http.post(format!("{}{}", self.base, path)),
            Some(fields),
            headers,
        )
        .await
    }

    /// POST a form the way the browser would: with the CSRF token (fetching
    /// a page first if the jar has none yet) and same-origin fetch metadata.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        if self.cookie("mestring_csrf").is_none() {
            self.get("/login").await;
        }
        let token = self
            .cookie("mestring_csrf")
            .expect("csrf cookie set by GET");
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all, &[("Sec-Fetch-Site", "same-origin")])
            .await
    }

    /// Logs in with `code`; returns the response to the POST.
    /// Saves a daily check-in (mood 6, worry 2, slept well, some
    /// activity) with `note` as its free text.
    pub async fn save_checkin(&self, note: &str) -> Resp {
        self.post(
            "/app/registrations/daily-checkin/new",
            &[
                ("mood", "6"),
                ("worry", "2"),
                ("sleep", "good"),
                ("activity", "some"),
                ("note", note),
            ],
        )
        .await
    }

    pub async fn login(&self, code: &str) -> Resp {
        self.post("/login", &[("code", code)]).await
    }
}

/// The workspace root (where `content/` and `target/` live).
/// SQL that makes every `operation` (`INSERT`, `DELETE`, …) on `table`
/// fail from now on, as a damaged table or a full disk might: a trigger
/// named `refuse_{table}`.
pub fn refusing_trigger(backend: Backend, table: &str, operation: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_{table} BEFORE {operation} ON {table} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_{table} BEFORE {operation} ON {table} FOR EACH ROW \
             EXECUTE FUNCTION refuse_{table}();"
        ),
    }
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `mestring` executable built next to this test binary.
pub fn mestring_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/mestring
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("mestring"))
        .expect("target dir");
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test --workspace` so the executable is built",
        path.display()
    );
    path
}

/// Runs `mestring ARGS` against `db` and waits for it.
pub fn run_cli(db: &TestDb, args: &[&str]) -> Output {
    cli_command(db, args).output().expect("mestring runs")
}

/// `mestring org create --name NAME`; returns the id it prints last.
pub fn cli_create_org(db: &TestDb, name: &str) -> String {
    let out = run_cli(db, &["org", "create", "--name", name]);
    assert!(
        out.status.success(),
        "org create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("an id line")
        .trim()
        .to_owned()
}

/// A `mestring` command configured for `db`'s database and data dir.
pub fn cli_command(db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(mestring_exe());
    cmd.args(args)
        .env("MESTRING_DATABASE_URL", &db.url)
        .env("MESTRING_DATA_DIR", db.dir.path().join("data"))
        .env("MESTRING_CONTENT_DIR", workspace_root().join("content"))
        .env("MESTRING_LOG", "info")
        .env_remove("MESTRING_LISTEN")
        .env_remove("MESTRING_CLOCK_FILE")
        .stdin(Stdio::null());
    cmd
}

/// A free TCP port on loopback (for servers run as processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `mestring serve` as a child process, its output captured to files.
pub struct ServerProcess {
    pub base: String,
    child: std::process::Child,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl ServerProcess {
    pub async fn start(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_in(db, args, env, None).await
    }

    /// Like `start`, run from the working directory `cwd` if given.
    pub async fn start_in(
        db: &TestDb,
        args: &[&str],
        env: &[(&str, &str)],
        cwd: Option<&Path>,
    ) -> Self {
        // A caller that must know the address in advance (an identity
        // provider's redirect URI) passes MESTRING_LISTEN itself.
        let port = env
            .iter()
            .find(|(k, _)| *k == "MESTRING_LISTEN")
            .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(free_port);
        let stdout_path = db.dir.path().join(format!("server-{port}.out"));
        let stderr_path = db.dir.path().join(format!("server-{port}.err"));
        let mut cmd = cli_command(db, &[&["serve"], args].concat());
        cmd.env("MESTRING_LISTEN", format!("127.0.0.1:{port}"))
            .env("MESTRING_BASE_URL", format!("http://127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child: cmd.spawn().expect("server starts"),
            stdout_path,
            stderr_path,
        };
        let probe = Client::new(&server.base, None);
        for _ in 0..200 {
            if let Ok(Ok(_)) = tokio::time::timeout(
                StdDuration::from_millis(500),
                probe.http.get(format!("{}/healthz", server.base)).send(),
            )
            .await
            {
                return server;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!(
            "server did not start: {}",
            std::fs::read_to_string(&server.stderr_path).unwrap_or_default()
        );
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base, None)
    }

    pub fn client_from(&self, ip: &str) -> Client {
        Client::new(&self.base, Some(ip.parse().expect("ip")))
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the server printed so far, stdout and stderr.
    pub fn output(&self) -> Vec<u8> {
        let mut all = std::fs::read(&self.stdout_path).unwrap_or_default();
        all.extend(std::fs::read(&self.stderr_path).unwrap_or_default());
        all
    }
}

impl ServerProcess {
    /// Sends `signal` (e.g. "TERM") to the server process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the process to exit; its status if it did.
    pub async fn wait_exit(&mut self, limit: StdDuration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(hay, needle).is_some()
}

/// The value of `name="csrf_token"` etc. in a form, for assertions.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_owned())
}

// ---- Staff (dashboard) helpers ----

/// A staff member created directly in the store, ready to log in.
pub struct StaffFixture {
    pub id: Id,
    pub email: String,
    pub password: String,
    pub totp: mestring_dashboard::totp::TotpSecret,
}

impl TestApp {
    /// Like `spawn`, with extra configuration variables (e.g. SMTP).
    pub async fn spawn_with_env(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend);
        let clock = Arc::new(MockClock(Mutex::new(Utc::now().trunc_subsecs(6))));
        let base_config = test_config(&db, "127.0.0.1:0");
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let data_dir = base_config.data_dir.display().to_string();
        let url = db.url.clone();
        let content = workspace_root().join("content");
        let config = Config::from_lookup(move |k| {
            if let Some((_, v)) = extra.iter().find(|(ek, _)| ek == k) {
                return Some(v.clone());
            }
            match k {
                "MESTRING_DATABASE_URL" => Some(url.clone()),
                "MESTRING_LISTEN" => Some("127.0.0.1:0".into()),
                "MESTRING_DATA_DIR" => Some(data_dir.clone()),
                "MESTRING_CONTENT_DIR" => Some(content.display().to_string()),
                "MESTRING_WORKERS" => Some("1".into()),
                _ => None,
            }
        })
        .expect("test config is valid");
        let app = Application::build(config, clock.clone())
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let handle = app.handle();
        let lifecycle = app.lifecycle();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base,
            db,
            clock,
            state,
            lifecycle,
            handle,
        }
    }

    /// Fixture: an active staff member of `org` with a random password and
    /// TOTP secret, created in the store (no invitation).
    pub async fn create_staff(
        &self,
        org: &Id,
        email: &str,
        role: mestring_store::staff::StaffRole,
    ) -> StaffFixture {
        let home = mestring_store::staff::StaffHome::Organisation(org.clone());
        self.create_staff_at(home, email, role).await
    }

    /// Fixture: an active staff member of an organisation or a channel.
    pub async fn create_staff_at(
        &self,
        home: mestring_store::staff::StaffHome,
        email: &str,
        role: mestring_store::staff::StaffRole,
    ) -> StaffFixture {
        use mestring_store::staff::{NewStaff, StaffRow};
        let password = format!("pw-{}", Id::generate());
        let phc = mestring_dashboard::password::hash(password.clone())
            .await
            .expect("hash");
        let totp = mestring_dashboard::totp::TotpSecret::generate();
        let seal = self.state.seal.clone();
        let bytes = totp.as_bytes().to_vec();
        let now = self.clock.now();
        let email2 = email.to_owned();
        let id = self
            .state
            .store
            .run(move |conn| {
                let id = StaffRow::insert(
                    conn,
                    &NewStaff {
                        home: &home,
                        email: &email2,
                        name: "Test Fagperson",
                        role,
                    },
                    now,
                )?;
                let sealed = seal.seal(mestring_dashboard::totp::SEAL_PURPOSE, id.as_str(), &bytes);
                StaffRow::set_credentials(conn, &id, &phc, &sealed)?;
                StaffRow::activate(conn, &id, 0, now)?;
                Ok(id)
            })
            .await
            .expect("staff created");
        StaffFixture {
            id,
            email: email.to_owned(),
            password,
            totp,
        }
    }

    /// The account id behind a code.
    pub async fn account_of(&self, code: &str) -> Id {
        let code = AccessCode::parse(code).expect("code");
        let hash = self.state.pepper.hash(&code);
        self.state
            .store
            .run(move |conn| {
                mestring_store::accounts::AccountRow::find_by_code_hash(conn, &hash)
                    .map(|a| a.expect("account").id.clone())
            })
            .await
            .expect("lookup")
    }

    /// Records a consent event for an account at the clock's now.
    pub async fn record_consent(
        &self,
        account: &Id,
        kind: mestring_domain::consent::ConsentEventKind,
    ) {
        let account = account.clone();
        let now = self.clock.now();
        self.state
            .store
            .run(move |conn| mestring_store::consent::ConsentRow::record(conn, &account, kind, now))
            .await
            .expect("consent recorded");
    }
}

impl Client {
    /// Logs a staff member in (both steps) with a code for `now`.
    pub async fn staff_login(&self, staff: &StaffFixture, now: DateTime<Utc>) -> Resp {
        let first = self
            .post(
                "/staff/login",
                &[("email", &staff.email), ("password", &staff.password)],
            )
            .await;
        assert_eq!(first.status, 303, "password step: {}", first.body);
        let code = staff.totp.code_at(now);
        self.post("/staff/login", &[("totp", &code)]).await
    }
}

/// The `.eml` files in a data directory's outbox, read whole.
pub fn outbox_mails(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|m| unfold_quoted_printable(&m))
        .collect()
}

/// Undoes quoted-printable soft line breaks, so long links read whole.
pub fn unfold_quoted_printable(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

/// The first `/staff/invite/<token>` link in a text.
pub fn invite_path(text: &str) -> Option<String> {
    let at = text.find("/staff/invite/")?;
    let rest = &text[at..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Copies the directory tree `from` to `to` (created).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `mestring seed ARGS` for `db`; its standard output (the orgs and
/// logins it printed). Fails the test if the seed fails.
pub fn seed(db: &TestDb, args: &[&str]) -> String {
    let out = cli_command(db, &[&["seed"], args].concat())
        .output()
        .expect("seed runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value a command printed after `label` on a line of `stdout`
/// (e.g. `mestring seed`'s "org:").
pub fn printed(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {stdout}"))
        .trim()
        .to_owned()
}

/// The staff login `mestring seed` printed under `prefix` ("staff",
/// "tool manager").
pub fn seeded_staff(stdout: &str, prefix: &str) -> StaffFixture {
    StaffFixture {
        id: Id::generate(),
        email: printed(stdout, &format!("{prefix} email:")),
        password: printed(stdout, &format!("{prefix} password:")),
        totp: mestring_dashboard::totp::TotpSecret::from_base32(&printed(
            stdout,
            &format!("{prefix} totp secret:"),
        ))
        .expect("base32"),
    }
}

/// The next message a fake server passed on, waiting up to 20 s without
/// blocking this thread. The app's maintenance loop runs on the test's
/// own runtime (`jobs::spawn` uses `tokio::spawn`): a blocking wait here
/// would freeze a sweep that is halfway through sending (a receipt it has
/// claimed), and the message would never come.
pub async fn received(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        match rx.try_recv() {
            Ok(message) => return message,
            Err(std::sync::mpsc::TryRecvError::Empty) if std::time::Instant::now() < deadline => {
                actix_web::rt::time::sleep(StdDuration::from_millis(20)).await;
            }
            Err(e) => panic!("{what}: {e:?} after waiting 20 s"),
        }
    }
}
