//! OpenID Connect against a real identity provider (docs/oidc.md): the
//! OpenID Certified `oidc-provider` in `tests/oidc-provider`, started per
//! test, plays the citizen portal and HelseID. Every test drives the whole
//! redirect dance over HTTP: app → provider login form → provider → app
//! callback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::clock::Clock;
use mestring_domain::id::Id;
use mestring_store::staff::StaffRole;

use crate::helpers::{Backend, Client, Resp, TestApp, backends, free_port, workspace_root};

const CHANNEL: &str = "helsenorge";
const PROGRAM: &str = "angst";
const PORTAL_CLIENT: (&str, &str) = ("mestring-portal", "portal-test-secret-0123456789abcdef");
const HELSEID_CLIENT: (&str, &str) = ("mestring-helseid", "helseid-test-secret-0123456789abcdef");
/// Values the provider sends that must never reach the database or logs.
const PORTAL_PID: &str = "01017012345";
const CLINICIAN_PID: &str = "02028054321";

/// The provider process; killed when dropped.
struct Provider {
    issuer: String,
    child: Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start(app_base: &str) -> Self {
        Self::start_with(app_base, &[])
    }

    fn start_with(app_base: &str, extra: &[&str]) -> Self {
        let dir = workspace_root().join("tests/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test identity provider is not installed: run `npm ci` in tests/oidc-provider"
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .args(["--app", app_base, "--channel", CHANNEL])
            .args(extra)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("provider prints its issuer");
        // Keep draining, so a later write never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let issuer = line
            .trim()
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("unexpected provider output: {line:?}"))
            .to_owned();
        Self { issuer, child }
    }
}

/// An app whose launch channel and HelseID both point at a fresh provider.
async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, Provider) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&base);
    let listen = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("MESTRING_LISTEN", listen.as_str()),
        ("MESTRING_BASE_URL", base.as_str()),
        ("MESTRING_OIDC_LAUNCH_CHANNEL", CHANNEL),
        ("MESTRING_OIDC_LAUNCH_ISSUER", provider.issuer.as_str()),
        ("MESTRING_OIDC_LAUNCH_CLIENT_ID", PORTAL_CLIENT.0),
        ("MESTRING_OIDC_LAUNCH_CLIENT_SECRET", PORTAL_CLIENT.1),
        ("MESTRING_OIDC_HELSEID_ISSUER", provider.issuer.as_str()),
        ("MESTRING_OIDC_HELSEID_CLIENT_ID", HELSEID_CLIENT.0),
        ("MESTRING_OIDC_HELSEID_CLIENT_SECRET", HELSEID_CLIENT.1),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with_env(backend, &env).await;
    let now = app.clock.now();
    app.state
        .store
        .run(move |conn| {
            let slug = ChannelSlug::parse(CHANNEL).expect("slug");
            mestring_store::channels::ChannelRow::insert(conn, &slug, "Helsenorge", now)
        })
        .await
        .expect("channel");
    (app, provider)
}

/// An organisation in the launch channel.
async fn portal_org(app: &TestApp, name: &str) -> Id {
    let name = name.to_owned();
    let now = app.clock.now();
    app.state
        .store
        .run(move |conn| {
            let slug = ChannelSlug::parse(CHANNEL).expect("slug");
            mestring_store::organisations::OrganisationRow::insert_in(conn, &name, &slug, now)
        })
        .await
        .expect("org")
}

fn path_of<'a>(location: &'a str, base: &str) -> &'a str {
    location.strip_prefix(base).unwrap_or(location)
}

/// The provider's side of the dance: from the authorization URL to the
/// callback URL on the app, logging in as `account`.
async fn at_provider(provider: &Provider, authorize: &str, account: &str) -> String {
    let p = Client::new(&provider.issuer, None);
    let to_login = p.get(path_of(authorize, &provider.issuer)).await;
    assert_eq!(to_login.status, 303, "provider: {}", to_login.body);
    let form = to_login.location().expect("login form").to_owned();
    let form_path = path_of(&form, &provider.issuer).to_owned();
    let page = p.get(&form_path).await;
    assert_eq!(page.status, 200);
    let resumed = p.post_raw(&form_path, &[("account", account)], &[]).await;
    assert_eq!(resumed.status, 303, "provider login: {}", resumed.body);
    let resume = resumed.location().expect("resume").to_owned();
    let back = p.get(path_of(&resume, &provider.issuer)).await;
    assert_eq!(back.status, 303, "provider resume: {}", back.body);
    back.location().expect("callback").to_owned()
}

/// Starts a login at `start` (a path on the app), logs in at the
/// provider as `account`, and returns the path of the app's callback.
async fn to_callback(
    app_base: &str,
    provider: &Provider,
    c: &Client,
    start: &str,
    account: &str,
) -> String {
    let begun = c.get(start).await;
    assert_eq!(begun.status, 303, "{start}: {}", begun.body);
    let authorize = begun.location().expect("to provider").to_owned();
    assert!(authorize.starts_with(&provider.issuer), "{authorize}");
    let callback = at_provider(provider, &authorize, account).await;
    path_of(&callback, app_base).to_owned()
}

/// A whole launch: `/launch/{channel}{query}` → provider as `account` →
/// the app's callback; returns the callback's response and its path.
async fn launch(
    app: &TestApp,
    provider: &Provider,
    c: &Client,
    query: &str,
    account: &str,
) -> (Resp, String) {
    let start = format!("/launch/{CHANNEL}{query}");
    let path = to_callback(&app.base, provider, c, &start, account).await;
    (c.get(&path).await, path)
}

async fn helseid(app: &TestApp, provider: &Provider, c: &Client, account: &str) -> Resp {
    let path = to_callback(&app.base, provider, c, "/staff/login/helseid", account).await;
    c.get(&path).await
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
}

async fn account_count(app: &TestApp) -> i64 {
    app.state
        .store
        .run(|conn| {
            use diesel::prelude::*;
            mestring_store::schema::accounts::table
                .count()
                .get_result::<i64>(conn)
                .map_err(Into::into)
        })
        .await
        .expect("count")
}

async fn security_events(app: &TestApp) -> Vec<String> {
    let since = Utc::now() - chrono::Duration::days(1);
    app.state
        .store
        .run(move |conn| mestring_store::security::SecurityEventRow::list_since(conn, since, None))
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind.clone())
        .collect()
}

/// Every byte of the database (SQLite files or a data-only dump).
fn assert_nowhere(app: &TestApp, needles: &[&str]) {
    let bytes = app.db.dump_bytes();
    for n in needles {
        assert!(
            memchr::memmem::find(&bytes, n.as_bytes()).is_none(),
            "{n:?} found in the database"
        );
    }
}

#[actix_web::test]
async fn first_launch_creates_second_resumes_another_sub_gets_another_account() {
    for backend in backends() {
        let (app, provider) = spawn(backend, &[]).await;
        let org = portal_org(&app, "Legekontor Nord").await;
        let program = PROGRAM.to_owned();
        let query = format!("?org={org}&program={program}");

        let c = app.client();
        let before = account_count(&app).await;
        let (res, _) = launch(&app, &provider, &c, &query, "citizen-1").await;
        assert_eq!(res.status, 303, "{}", res.body);
        // From an organisation: the consent question comes first.
        assert_eq!(res.location(), Some("/consent"));
        assert!(c.cookie("mestring_session").is_some());
        assert_eq!(account_count(&app).await, before + 1);
        let home = c.get("/app").await;
        assert_eq!(home.status, 200);
        // A normal user session: the consent question, then the overview.
        let consent = c.post("/consent", &[("choice", "yes")]).await;
        assert_eq!(consent.status, 303, "{}", consent.body);
        c.save_checkin("launch-marker-note").await;

        // The same `sub` again, in another browser: the same account.
        let c2 = app.client();
        let (again, _) = launch(&app, &provider, &c2, &query, "citizen-1").await;
        assert_eq!(again.status, 303);
        assert_eq!(again.location(), Some("/app"), "sharing already answered");
        assert_eq!(account_count(&app).await, before + 1);
        let export = c2.get("/settings/export.json").await;
        assert_eq!(export.status, 200);
        assert!(
            export.body.contains("launch-marker-note"),
            "the same account's data"
        );

        // Another `sub`: another account.
        let c3 = app.client();
        let (other, _) = launch(&app, &provider, &c3, &query, "citizen-2").await;
        assert_eq!(other.status, 303);
        assert_eq!(account_count(&app).await, before + 2);

        // The account carries the launch context.
        let links: Vec<(String, Option<String>, Option<String>)> = app
            .state
            .store
            .run(|conn| {
                use diesel::prelude::*;
                use mestring_store::schema::accounts;
                use mestring_store::schema::launch_links;
                let links: Vec<(String, String)> = launch_links::table
                    .select((launch_links::channel, launch_links::account_id))
                    .load(conn)?;
                let mut out = Vec::new();
                for (channel, account) in links {
                    let (o, p): (Option<String>, Option<String>) = accounts::table
                        .find(account)
                        .select((accounts::org_id, accounts::program_slug))
                        .first(conn)?;
                    out.push((channel, o, p));
                }
                Ok(out)
            })
            .await
            .expect("links");
        assert_eq!(links.len(), 2);
        for (channel, o, p) in &links {
            assert_eq!(channel, CHANNEL);
            assert_eq!(o.as_deref(), Some(org.as_str()));
            assert_eq!(p.as_deref(), Some(program.as_str()));
        }

        // The portal's `sub` (pairwise, as the provider computes it) is in
        // no row, and neither is the account id the provider knows.
        let subs = provider_subjects_for(&provider, &app.base, &["citizen-1", "citizen-2"]).await;
        let mut needles: Vec<&str> = subs.iter().map(String::as_str).collect();
        needles.extend(["citizen-1", "citizen-2"]);
        assert_nowhere(&app, &needles);
    }
}

/// The `sub`s the provider issues to the portal client for `accounts`,
/// read from its own ID tokens (a direct code flow against the provider,
/// outside the app) so the byte scan looks for the real values.
async fn provider_subjects_for(
    provider: &Provider,
    app_base: &str,
    accounts: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for account in accounts {
        let verifier = "test-verifier-0123456789abcdefghijklmnopqrstuvwxyz-0123";
        let challenge = {
            use sha2::Digest;
            base64url(&sha2::Sha256::digest(verifier.as_bytes()))
        };
        let redirect = format!("{app_base}/launch/{CHANNEL}/callback");
        let authorize = format!(
            "{}/auth?client_id={}&response_type=code&scope=openid&redirect_uri={}&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
            provider.issuer,
            PORTAL_CLIENT.0,
            urlencode(&redirect),
        );
        let back = at_provider(provider, &authorize, account).await;
        let code = query_param(&back, "code").expect("code").to_owned();
        let http = awc::Client::default();
        let mut res = http
            .post(format!("{}/token", provider.issuer))
            .basic_auth(PORTAL_CLIENT.0, PORTAL_CLIENT.1)
            .send_form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", verifier),
            ])
            .await
            .expect("token");
        let body: serde_json::Value = res.json().await.expect("json");
        let id_token = body["id_token"].as_str().expect("id_token");
        let payload = id_token.split('.').nth(1).expect("payload");
        let claims: serde_json::Value =
            serde_json::from_slice(&base64url_decode(payload)).expect("claims");
        out.push(claims["sub"].as_str().expect("sub").to_owned());
    }
    out
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn bad_tokens_and_identity_claims_are_refused_with_nothing_stored() {
    for backend in backends() {
        let (app, provider) = spawn(backend, &[]).await;
        let before = account_count(&app).await;
        let cases = [
            ("with-pid", "fødselsnummer"),
            ("with-fnr", "fødselsnummer"),
            ("with-name", "navn"),
            ("with-given-name", "navn"),
            ("representing", "på vegne av"),
            ("tamper-expired", "bekrefte"),
            ("tamper-audience", "bekrefte"),
            ("tamper-nosub", "bekrefte"),
            ("tamper-badsig", "bekrefte"),
            ("tamper-issuer", "bekrefte"),
            ("tamper-nonce", "bekrefte"),
        ];
        for (i, (account, says)) in cases.iter().enumerate() {
            // One address per case: security events are rate limited per
            // source, and each refusal must leave one.
            let c = app.client_from(&format!("127.0.0.{}", 10 + i));
            let (res, _) = launch(&app, &provider, &c, "", account).await;
            assert_eq!(res.status, 403, "{account}: {}", res.body);
            assert!(res.body.contains(says), "{account}: page says {says:?}");
            assert!(
                res.body.contains("Ingenting er lagret") || res.body.contains("lagret ingenting"),
                "{account}"
            );
            assert!(
                c.cookie("mestring_session").is_none(),
                "{account}: no session"
            );
            assert_eq!(account_count(&app).await, before, "{account}: no account");
            app.db.wait_for_security_events(i + 1).await;
        }
        let kinds = security_events(&app).await;
        assert_eq!(kinds.len(), cases.len());
        assert!(kinds.iter().all(|k| k == "oidc_refused"), "{kinds:?}");
        assert_nowhere(&app, &[PORTAL_PID, "Kari Nordmann", "Kari"]);
    }
}

#[actix_web::test]
async fn a_state_works_once_in_the_browser_that_began_it_and_within_ten_minutes() {
    let backend = Backend::Sqlite;
    let (app, provider) = spawn(backend, &[]).await;
    let c = app.client();
    // Replay: the callback URL of a finished launch, once more.
    let (ok, callback) = launch(&app, &provider, &c, "", "citizen-1").await;
    assert_eq!(ok.status, 303);
    let replay = c.get(&callback).await;
    assert_eq!(replay.status, 403, "replayed state");
    assert!(replay.body.contains("allerede brukt"));

    // Another browser brings back a callback begun in this one (login
    // CSRF): refused, and the state is used up.
    let a = app.client();
    let start = format!("/launch/{CHANNEL}");
    let callback = to_callback(&app.base, &provider, &a, &start, "citizen-2").await;
    let b = app.client();
    let foreign = b.get(&callback).await;
    assert_eq!(foreign.status, 403);
    let own = a.get(&callback).await;
    assert_eq!(own.status, 403, "taken by the foreign attempt");

    // Too late: begun, then eleven minutes pass.
    let late = app.client();
    let callback = to_callback(&app.base, &provider, &late, &start, "citizen-2").await;
    app.clock.advance(chrono::Duration::minutes(11));
    let res = late.get(&callback).await;
    assert_eq!(res.status, 403);

    // No state at all, or an unknown one.
    assert_eq!(
        c.get(&format!("/launch/{CHANNEL}/callback?code=x"))
            .await
            .status,
        403
    );
    assert_eq!(
        c.get(&format!("/launch/{CHANNEL}/callback?code=x&state=nope"))
            .await
            .status,
        403
    );
    // A cancelled login at the provider: a calm page, not a refusal.
    let cancel = app.client();
    let start = cancel.get(&format!("/launch/{CHANNEL}")).await;
    let state = query_param(start.location().expect("to provider"), "state")
        .expect("state")
        .to_owned();
    let res = cancel
        .get(&format!(
            "/launch/{CHANNEL}/callback?error=access_denied&state={state}"
        ))
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("avbrutt"));
}

#[actix_web::test]
async fn the_authorization_request_uses_pkce_state_nonce_and_openid_only() {
    let (app, provider) = spawn(Backend::Sqlite, &[]).await;
    let c = app.client();
    let start = c.get(&format!("/launch/{CHANNEL}")).await;
    let url = start.location().expect("to provider");
    assert!(
        url.starts_with(&format!("{}/auth?", provider.issuer)),
        "{url}"
    );
    assert_eq!(query_param(url, "response_type"), Some("code"));
    assert_eq!(query_param(url, "scope"), Some("openid"));
    assert_eq!(query_param(url, "code_challenge_method"), Some("S256"));
    assert!(query_param(url, "code_challenge").is_some_and(|c| c.len() >= 43));
    assert!(query_param(url, "state").is_some_and(|s| s.len() >= 16));
    assert!(query_param(url, "nonce").is_some_and(|s| s.len() >= 16));
    let cookie = start.header("set-cookie").expect("browser binding");
    assert!(
        cookie.contains("mestring_oidc=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );

    // A launch link naming an unknown or foreign organisation, or an
    // unknown program: 400, nothing stored.
    let direct = app.create_org("Direkte klinikk").await;
    for q in [
        format!("?org={direct}"),
        format!("?org={}", Id::generate()),
        "?org=not-an-id".to_owned(),
        "?program=no-such-program".to_owned(),
    ] {
        let res = c.get(&format!("/launch/{CHANNEL}{q}")).await;
        assert_eq!(res.status, 400, "{q}");
        assert!(res.body.contains("ikke gyldig"), "{q}");
    }
    // Another channel is not configured here.
    assert_eq!(c.get("/launch/elsewhere").await.status, 404);
}

#[actix_web::test]
async fn deleting_a_launched_account_forgets_the_link_and_a_code_works_outside_the_portal() {
    for backend in backends() {
        let (app, provider) = spawn(backend, &[]).await;
        let c = app.client();
        let (res, _) = launch(&app, &provider, &c, "", "citizen-1").await;
        assert_eq!(res.location(), Some("/app"), "no organisation: straight in");

        // A code for use outside the portal: the rotation flow.
        let page = c.get("/settings/code").await;
        assert!(page.body.contains("helseportalen"), "the page explains");
        let shown = c.post("/settings/code/new", &[]).await;
        assert_eq!(shown.status, 200);
        let code = crate::consent::shown_code(&shown.body);
        let confirmed = c.post("/settings/code/confirm", &[("code", &code)]).await;
        assert_eq!(confirmed.status, 303, "{}", confirmed.body);
        let outside = app.client();
        assert_eq!(outside.login(&code).await.status, 303, "the code logs in");
        // The portal still leads to the same account.
        let again = app.client();
        let (res, _) = launch(&app, &provider, &again, "", "citizen-1").await;
        assert_eq!(res.status, 303);
        assert_eq!(account_count(&app).await, 1);

        c.save_checkin("before-delete-marker").await;
        // Deletion says what happens to the link, then forgets it.
        let page = c.get("/settings/delete").await;
        assert!(page.body.contains("ny, tom konto"));
        let gone = c.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(gone.status, 303);
        assert_eq!(account_count(&app).await, 0);
        let fresh = app.client();
        let (res, _) = launch(&app, &provider, &fresh, "", "citizen-1").await;
        assert_eq!(res.status, 303);
        assert_eq!(account_count(&app).await, 1, "a new, empty account");
        let export = fresh.get("/settings/export.json").await;
        assert_eq!(export.status, 200);
        assert!(!export.body.contains("before-delete-marker"), "empty");
    }
}

#[actix_web::test]
async fn helseid_logs_in_a_linked_clinician_and_refuses_the_rest() {
    for backend in backends() {
        let (app, provider) = spawn(backend, &[("MESTRING_OIDC_HELSEID_ORGS", "999888777")]).await;
        let org = app.create_org("Klinikk A").await;
        let boss = app
            .create_staff(&org, "sjef@a.no", StaffRole::Superuser)
            .await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let ola = app
            .create_staff(&org, "ola@a.no", StaffRole::Clinician)
            .await;

        // The login page offers HelseID beside the password.
        let page = app.client().get("/staff/login").await;
        assert!(page.body.contains("Logg inn med HelseID"));
        assert!(page.body.contains("/staff/login/helseid"));

        // Before a superuser links the HPR number: refused.
        let c = app.client();
        let res = helseid(&app, &provider, &c, "clinician-ok").await;
        assert_eq!(res.status, 403);
        assert!(res.body.contains("HPR-nummer"));

        // The superuser links Kari's HPR number.
        let sb = app.client();
        sb.staff_login(&boss, app.clock.now()).await;
        let bad = sb
            .post(
                &format!("/dashboard/staff/{}/hpr", kari.id),
                &[("hpr", "12x")],
            )
            .await;
        assert_eq!(bad.status, 422);
        let set = sb
            .post(
                &format!("/dashboard/staff/{}/hpr", kari.id),
                &[("hpr", "123 4567")],
            )
            .await;
        assert_eq!(set.status, 303, "{}", set.body);
        let taken = sb
            .post(
                &format!("/dashboard/staff/{}/hpr", ola.id),
                &[("hpr", "1234567")],
            )
            .await;
        assert_eq!(taken.status, 422, "one account per HPR number");
        let form = sb.get(&format!("/dashboard/staff/{}/edit", kari.id)).await;
        assert!(form.body.contains("value=\"1234567\""));

        let c = app.client();
        let res = helseid(&app, &provider, &c, "clinician-ok").await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location(), Some("/dashboard"));
        assert_eq!(c.get("/dashboard").await.status, 200);
        // Everything held about her includes the number, on the page and
        // in her export.
        let profile = c.get("/dashboard/profile").await;
        assert!(profile.body.contains("1234567"));
        let export = c.get("/dashboard/profile/export.json").await;
        assert!(
            export.body.contains("\"hpr_number\": \"1234567\""),
            "{}",
            export.body
        );

        // An invited clinician who never chose a password: HelseID is
        // enough, and activates the account.
        let now = app.clock.now();
        let home = mestring_store::staff::StaffHome::Organisation(org.clone());
        let invited = app
            .state
            .store
            .run(move |conn| {
                mestring_store::staff::StaffRow::insert(
                    conn,
                    &mestring_store::staff::NewStaff {
                        home: &home,
                        email: "nina@a.no",
                        name: "Nina Invitert",
                        role: StaffRole::Clinician,
                    },
                    now,
                )
            })
            .await
            .expect("invited");
        let set = sb
            .post(
                &format!("/dashboard/staff/{invited}/hpr"),
                &[("hpr", "7654321")],
            )
            .await;
        assert_eq!(set.status, 303, "{}", set.body);
        let c = app.client();
        let res = helseid(&app, &provider, &c, "clinician-high").await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(c.get("/dashboard").await.status, 200);
        let row = app
            .state
            .store
            .run(move |conn| mestring_store::staff::StaffRow::find(conn, &invited))
            .await
            .expect("row");
        assert!(
            row.activated_at.is_some(),
            "activated by the first HelseID login"
        );

        // Low assurance, an unknown HPR number, another organisation, no
        // HPR number: refused.
        for (account, says) in [
            ("clinician-low", "sikkerhetsnivå"),
            ("clinician-unknown", "HPR-nummer"),
            ("clinician-other-org", "Virksomheten"),
            ("clinician-no-hpr", "HPR-nummer"),
        ] {
            let c = app.client();
            let res = helseid(&app, &provider, &c, account).await;
            assert_eq!(res.status, 403, "{account}");
            assert!(res.body.contains(says), "{account}");
            assert_eq!(
                c.get("/dashboard").await.location(),
                Some("/staff/login"),
                "{account}"
            );
        }

        // Deactivated: refused.
        let res = sb
            .post(&format!("/dashboard/staff/{}/deactivate", kari.id), &[])
            .await;
        assert_eq!(res.status, 303);
        let c = app.client();
        let res = helseid(&app, &provider, &c, "clinician-ok").await;
        assert_eq!(res.status, 403);

        // The password + TOTP path still works.
        let o = app.client();
        o.staff_login(&ola, app.clock.now()).await;
        assert_eq!(o.get("/dashboard").await.status, 200);

        // HelseID's national identity number is stored nowhere.
        assert_nowhere(&app, &[CLINICIAN_PID]);
        let kinds = security_events(&app).await;
        assert_eq!(kinds.iter().filter(|k| *k == "oidc_refused").count(), 6);
    }
}

#[actix_web::test]
async fn nothing_identifying_reaches_the_log() {
    // The server as a child process, so its log is what an operator sees.
    let db = crate::helpers::TestDb::new(Backend::Sqlite);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&base);
    let listen = format!("127.0.0.1:{port}");
    let server = crate::helpers::ServerProcess::start(
        &db,
        &[],
        &[
            ("MESTRING_LISTEN", listen.as_str()),
            ("MESTRING_BASE_URL", base.as_str()),
            ("MESTRING_OIDC_LAUNCH_CHANNEL", CHANNEL),
            ("MESTRING_OIDC_LAUNCH_ISSUER", provider.issuer.as_str()),
            ("MESTRING_OIDC_LAUNCH_CLIENT_ID", PORTAL_CLIENT.0),
            ("MESTRING_OIDC_LAUNCH_CLIENT_SECRET", PORTAL_CLIENT.1),
            ("MESTRING_LOG", "debug"),
        ],
    )
    .await;
    let c = Client::new(&base, None);
    for account in ["citizen-1", "with-pid", "with-name", "tamper-badsig"] {
        let start = format!("/launch/{CHANNEL}");
        let callback = to_callback(&base, &provider, &c, &start, account).await;
        c.get(&callback).await;
    }
    let log = format!(
        "{}{}",
        std::fs::read_to_string(&server.stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&server.stderr_path).unwrap_or_default()
    );
    assert!(
        log.contains("OpenID Connect login refused"),
        "the refusals are logged"
    );
    let subs = provider_subjects_for(&provider, &base, &["citizen-1", "with-pid"]).await;
    for needle in
        subs.iter()
            .map(String::as_str)
            .chain([PORTAL_PID, "Kari Nordmann", PORTAL_CLIENT.1])
    {
        assert!(!log.contains(needle), "{needle:?} in the log");
    }
}

/// A fresh RSA key in PKCS#1 PEM (what `openssl genrsa -traditional` writes).
fn rsa_key(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&path)
        .arg("2048")
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[actix_web::test]
async fn private_key_jwt_authenticates_the_client_and_a_wrong_key_is_refused() {
    let keys = tempfile::tempdir().expect("dir");
    let registered = rsa_key(keys.path(), "client.pem");
    let other = rsa_key(keys.path(), "other.pem");
    for (key, works) in [(&registered, true), (&other, false)] {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let registered_arg = registered.display().to_string();
        let provider = Provider::start_with(&base, &["--portal-key", &registered_arg]);
        let listen = format!("127.0.0.1:{port}");
        let key_file = key.display().to_string();
        let app = TestApp::spawn_with_env(
            Backend::Sqlite,
            &[
                ("MESTRING_LISTEN", listen.as_str()),
                ("MESTRING_BASE_URL", base.as_str()),
                ("MESTRING_OIDC_LAUNCH_CHANNEL", CHANNEL),
                ("MESTRING_OIDC_LAUNCH_ISSUER", provider.issuer.as_str()),
                ("MESTRING_OIDC_LAUNCH_CLIENT_ID", PORTAL_CLIENT.0),
                ("MESTRING_OIDC_LAUNCH_CLIENT_KEY_FILE", key_file.as_str()),
            ],
        )
        .await;
        let c = app.client();
        let (res, _) = launch(&app, &provider, &c, "", "citizen-1").await;
        if works {
            assert_eq!(res.status, 303, "{}", res.body);
            assert_eq!(res.location(), Some("/app"));
        } else {
            assert_eq!(res.status, 403, "the provider refuses the assertion");
            assert!(res.body.contains("bekrefte"));
            assert_eq!(account_count(&app).await, 0);
        }
    }
}

#[actix_web::test]
async fn two_channels_from_a_file_give_one_identity_two_unlinkable_accounts() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start_with(&base, &["--channel", "region-vest"]);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("launch.toml");
    std::fs::write(
        &file,
        format!(
            "[[launch]]\nchannel = \"{CHANNEL}\"\nissuer = \"{iss}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\n\n\
             [[launch]]\nchannel = \"region-vest\"\nissuer = \"{iss}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\n",
            iss = provider.issuer,
            id = PORTAL_CLIENT.0,
            secret = PORTAL_CLIENT.1,
        ),
    )
    .expect("write");
    let listen = format!("127.0.0.1:{port}");
    let path = file.display().to_string();
    let app = TestApp::spawn_with_env(
        Backend::Sqlite,
        &[
            ("MESTRING_LISTEN", listen.as_str()),
            ("MESTRING_BASE_URL", base.as_str()),
            ("MESTRING_OIDC_LAUNCH_FILE", path.as_str()),
        ],
    )
    .await;
    let c = app.client();
    let (res, _) = launch(&app, &provider, &c, "", "citizen-1").await;
    assert_eq!(res.status, 303, "{}", res.body);
    // The same person from the other channel: the provider's `sub` is the
    // same, the launch key is not, so the accounts cannot be linked.
    let other = app.client();
    let callback = to_callback(
        &app.base,
        &provider,
        &other,
        "/launch/region-vest",
        "citizen-1",
    )
    .await;
    let res = other.get(&callback).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(account_count(&app).await, 2);
    let keys: Vec<(String, String)> = app
        .state
        .store
        .run(|conn| {
            use diesel::prelude::*;
            use mestring_store::schema::launch_links;
            Ok(launch_links::table
                .select((launch_links::channel, launch_links::key_hash))
                .load(conn)?)
        })
        .await
        .expect("links");
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0].1, keys[1].1);
}
