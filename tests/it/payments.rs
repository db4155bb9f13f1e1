//! Private purchase with Stripe Checkout (issue 10, promise 6), against
//! the fake Stripe in `fake_stripe.rs`: paid → code once; webhook twice;
//! webhook after the success page; success page before the webhook;
//! forged and stale signatures; cancelled checkout; refund; receipt sent
//! and erased; receipt unsendable for 7 days → erased; two purchases
//! claimed in swapped order cannot be matched from the database.

use chrono::{Duration, Timelike};
use diesel::prelude::*;
use diesel::sql_types::Text;
use hmac::{Hmac, Mac};
use mestring_domain::clock::Clock;
use mestring_store::purchases::{PurchaseRow, PurchaseStatus, ReceiptState};
use sha2::Sha256;

use crate::fake_stripe::{FakeStripe, local_path};
use crate::helpers::{
    Backend, Client, ServerProcess, TestApp, TestDb, backends, cli_command, contains_bytes,
};

const SECRET_KEY: &str = "sk_test_fake_key_for_tests";
const WEBHOOK_SECRET: &str = "whsec_test_fake_signing_secret";
const PROGRAM: &str = "angst";

async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start().await;
    let mut env = vec![
        ("MESTRING_STRIPE_SECRET_KEY", SECRET_KEY),
        ("MESTRING_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("MESTRING_STRIPE_API_BASE", fake.base.as_str()),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with_env(backend, &env).await;
    (app, fake)
}

/// Starts a checkout from `/buy`; returns the Checkout Session id.
async fn start_checkout(c: &Client, fake: &FakeStripe, email: &str) -> String {
    let page = c.get("/buy").await;
    assert_eq!(page.status, 200);
    let res = c
        .post("/buy", &[("program", PROGRAM), ("email", email)])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let to = res.location().expect("to Stripe").to_owned();
    assert!(
        to.starts_with(&fake.base),
        "redirect to the hosted page: {to}"
    );
    assert!(c.cookie("mestring_buy").is_some(), "claim cookie set");
    to.rsplit('/').next().expect("session id").to_owned()
}

/// A `Stripe-Signature` header over `body` at `t` (independent HMAC).
fn sign(body: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_webhook(app: &TestApp, body: &str, signature: Option<&str>) -> (u16, String) {
    post_webhook_to(&app.base, body, signature).await
}

async fn post_webhook_to(base: &str, body: &str, signature: Option<&str>) -> (u16, String) {
    let mut req = awc::Client::new()
        .post(format!("{base}/stripe/webhook"))
        .insert_header(("Content-Type", "application/json"));
    if let Some(s) = signature {
        req = req.insert_header(("Stripe-Signature", s));
    }
    let mut res = req.send_body(body.to_owned()).await.expect("webhook sent");
    let text = res.body().await.expect("body");
    (
        res.status().as_u16(),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

/// Sends a correctly signed event, at the app's clock.
async fn deliver(app: &TestApp, body: &str) -> u16 {
    let sig = sign(body, WEBHOOK_SECRET, app.clock.now().timestamp());
    post_webhook(app, body, Some(&sig)).await.0
}

async fn purchase(app: &TestApp, session: &str) -> PurchaseRow {
    let s = session.to_owned();
    app.state
        .store
        .run(move |conn| PurchaseRow::find_by_session(conn, &s))
        .await
        .expect("read")
        .expect("purchase stored")
}

fn code_on(page: &str) -> Option<String> {
    let at = page.find("id=\"bought-code\"><strong>")?;
    let rest = &page[at + "id=\"bought-code\"><strong>".len()..];
    Some(rest[..rest.find('<')?].to_owned())
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

async fn lines(app: &TestApp, sqlite: &'static str, pg: &'static str) -> Vec<String> {
    app.state
        .store
        .run(move |conn| {
            let q = match conn {
                mestring_store::DbConn::Sqlite(_) => sqlite,
                mestring_store::DbConn::Pg(_) => pg,
            };
            Ok(diesel::sql_query(q)
                .load::<Line>(conn)?
                .into_iter()
                .map(|l| l.line)
                .collect())
        })
        .await
        .expect("query")
}

async fn account_lines(app: &TestApp) -> Vec<String> {
    lines(
        app,
        "SELECT id || '|' || code_hash || '|' || COALESCE(org_id, '-') || '|' || COALESCE(program_slug, '-') || '|' || CAST(created_at AS TEXT) AS line FROM accounts ORDER BY rowid",
        "SELECT id || '|' || code_hash || '|' || COALESCE(org_id, '-') || '|' || COALESCE(program_slug, '-') || '|' || CAST(created_at AS TEXT) AS line FROM accounts ORDER BY ctid",
    )
    .await
}

/// Every purchase column, in storage order.
async fn purchase_lines(app: &TestApp) -> Vec<String> {
    lines(
        app,
        "SELECT id || '|' || stripe_session || '|' || program_slug || '|' || amount_ore || '|' || day || '|' || status || '|' || COALESCE(claim_hash, '-') || '|' || CASE WHEN code_shown THEN 't' ELSE 'f' END || '|' || COALESCE(payment_ref, '-') || '|' || CASE WHEN receipt_sealed IS NULL THEN '-' ELSE 'sealed' END || '|' || receipt AS line FROM purchases",
        "SELECT id || '|' || stripe_session || '|' || program_slug || '|' || amount_ore || '|' || day || '|' || status || '|' || COALESCE(claim_hash, '-') || '|' || CASE WHEN code_shown THEN 't' ELSE 'f' END || '|' || COALESCE(payment_ref, '-') || '|' || CASE WHEN receipt_sealed IS NULL THEN '-' ELSE 'sealed' END || '|' || receipt AS line FROM purchases ORDER BY ctid",
    )
    .await
}

/// Values the fake must never see: the code, the session and CSRF
/// tokens, and every account id and code hash.
async fn secrets(app: &TestApp, client: &Client, code: &str) -> Vec<String> {
    let mut v = vec![code.to_owned()];
    v.extend(client.cookie("mestring_session"));
    v.extend(client.cookie("mestring_csrf"));
    v.extend(client.cookie("mestring_buy"));
    for line in account_lines(app).await {
        let mut parts = line.split('|');
        v.extend(parts.next().map(str::to_owned));
        v.extend(parts.next().map(str::to_owned));
    }
    v
}

#[actix_web::test]
async fn without_keys_buying_says_not_available_and_nothing_else_changes() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let page = c.get("/buy").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Kjøp er ikke tilgjengelig nå"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("name=\"email\""),
            "no form without keys"
        );
        let res = c.post("/buy", &[("program", PROGRAM), ("email", "")]).await;
        assert_eq!(res.status, 404);
        assert!(res.body.contains("Kjøp er ikke tilgjengelig nå"));
        assert_eq!(c.get("/buy/done?session_id=cs_test_x").await.status, 404);
        assert_eq!(post_webhook(&app, "{}", Some("t=1,v1=00")).await.0, 404);
        // The privacy page has a section for buyers, its numbers from the
        // policy (and the mission's 7 days themselves).
        let privacy = c.get("/privacy").await.body;
        let policy_days = mestring_domain::policy::purchase::RECEIPT_EMAIL_MAX.num_days();
        for text in [
            "Hvis du kjøper en kode".to_owned(),
            format!("innen {policy_days} dager"),
            "innen 7 dager".to_owned(),
            "490,00 kr".to_owned(),
        ] {
            assert!(privacy.contains(&text), "privacy page lacks {text:?}");
        }
        // The rest runs as before.
        let code = app.issue_code().await;
        assert_eq!(c.login(&code).await.status, 303);
    }
}

#[actix_web::test]
async fn success_page_before_the_webhook_shows_the_code_once_and_it_logs_in() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (app, fake) = spawn(backend, &[]).await;
        let c = app.client();
        // Bad input is answered before Stripe is asked anything.
        for (program, email) in [
            ("", ""),
            ("no-such-program", ""),
            (PROGRAM, "not an address"),
        ] {
            let res = c
                .post("/buy", &[("program", program), ("email", email)])
                .await;
            assert_eq!(res.status, 422, "{program:?} {email:?}");
            assert!(res.body.contains("role=\"alert\""), "{}", res.body);
        }
        assert!(fake.seen().is_empty(), "nothing sent to Stripe");
        let session = start_checkout(&c, &fake, "").await;

        // What Stripe was asked for: payment mode, NOK 490, no e-mail (none
        // typed), the session id placeholder in the success URL, an
        // idempotency key; the fake itself refuses customer, metadata and
        // client_reference_id.
        let created = fake.session(&session);
        assert_eq!(created.amount, 49_000);
        assert_eq!(created.customer_email, None);
        assert!(
            created
                .success_url
                .ends_with("/buy/done?session_id={CHECKOUT_SESSION_ID}")
        );
        assert!(!created.product.is_empty());
        let create = &fake.seen()[0];
        assert!(create.idempotency_key.is_some(), "idempotent create");
        assert!(create.body.contains("mode=payment"), "{}", create.body);

        // Unpaid: nothing to show yet.
        let done_path = format!("/buy/done?session_id={session}");
        let early = c.get(&done_path).await;
        assert_eq!(early.status, 200);
        assert!(code_on(&early.body).is_none());
        assert!(early.body.contains("ikke bekreftet"), "{}", early.body);

        // Paid on Stripe's page; the webhook has not arrived: the success
        // page asks Stripe and fulfils.
        let success = fake.pay(&session);
        assert_eq!(success, done_path);
        let shown = c.get(&success).await;
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert_eq!(shown.header("cache-control"), Some("no-store"));
        let code = code_on(&shown.body).expect("the code is shown");
        let row = purchase(&app, &session).await;
        assert_eq!(row.status, PurchaseStatus::Paid);
        assert!(row.code_shown);
        assert_eq!(row.receipt, ReceiptState::None);

        // Once: the same browser is told it was shown; a leaked link in
        // another browser shows nothing.
        let again = c.get(&success).await;
        assert!(code_on(&again.body).is_none());
        assert!(again.body.contains("allerede vist"), "{}", again.body);
        let stranger = app.client();
        let leaked = stranger.get(&success).await;
        assert_eq!(leaked.status, 404);
        assert!(code_on(&leaked.body).is_none());

        // The webhook after the success page changes nothing.
        let body = fake.event("evt_test_1", "checkout.session.completed", &session, 0);
        assert_eq!(deliver(&app, &body).await, 200);
        assert_eq!(account_lines(&app).await.len(), 1, "one account");

        // The code opens an account without organisation, created at the
        // start of the day, and it works like any such code.
        let id = app.account_of(&code).await;
        let account = app
            .state
            .store
            .run(move |conn| mestring_store::accounts::AccountRow::find(conn, &id))
            .await
            .expect("account");
        assert!(account.org_id.is_none());
        assert_eq!(account.program_slug.as_deref(), Some(PROGRAM));
        let created = account.created_at;
        assert_eq!(
            (created.hour(), created.minute(), created.second()),
            (0, 0, 0)
        );
        let user = app.client();
        let login = user.login(&code).await;
        assert_eq!(login.status, 303, "{}", login.body);
        assert_eq!(user.get("/app").await.status, 200);

        let mut never = secrets(&app, &c, &code).await;
        never.extend(secrets(&app, &user, &code).await);
        fake.assert_never_saw(&never.iter().map(String::as_str).collect::<Vec<_>>());
        fake.stop().await;
    }
}

#[actix_web::test]
async fn webhook_fulfils_once_duplicates_and_late_events_change_nothing() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (app, fake) = spawn(backend, &[]).await;
        let c = app.client();
        let session = start_checkout(&c, &fake, "").await;
        let success = fake.pay(&session);
        let body = fake.event(
            "evt_test_completed",
            "checkout.session.completed",
            &session,
            0,
        );
        assert_eq!(deliver(&app, &body).await, 200);
        let paid = purchase(&app, &session).await;
        assert_eq!(paid.status, PurchaseStatus::Paid);
        assert_eq!(paid.payment_ref, fake.session(&session).payment_intent);
        // Delivered again: still one event id, nothing changes.
        assert_eq!(deliver(&app, &body).await, 200);
        let events = lines(
            &app,
            "SELECT id AS line FROM stripe_events",
            "SELECT id AS line FROM stripe_events",
        )
        .await;
        assert_eq!(events, vec!["evt_test_completed".to_owned()]);
        // An out-of-order "expired" for the same session changes nothing.
        let late = fake.event("evt_test_expired", "checkout.session.expired", &session, 0);
        assert_eq!(deliver(&app, &late).await, 200);
        assert_eq!(purchase(&app, &session).await.status, PurchaseStatus::Paid);

        // The success page needs no call to Stripe now.
        let before = fake.seen().len();
        let shown = c.get(&success).await;
        let code = code_on(&shown.body).expect("code shown");
        assert_eq!(fake.seen().len(), before, "no session read-back");
        assert_eq!(app.client().login(&code).await.status, 303);
        let never = secrets(&app, &c, &code).await;
        fake.assert_never_saw(&never.iter().map(String::as_str).collect::<Vec<_>>());
        fake.stop().await;
    }
}

#[actix_web::test]
async fn forged_and_stale_webhooks_are_refused_with_a_security_event() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (app, fake) = spawn(backend, &[]).await;
        let c = app.client();
        let session = start_checkout(&c, &fake, "").await;
        fake.pay(&session);
        let body = fake.event("evt_test_forged", "checkout.session.completed", &session, 0);
        let now = app.clock.now().timestamp();

        let refused = [
            // Another secret.
            Some(sign(&body, "whsec_someone_else", now)),
            // Signed, then the body changed.
            Some(sign(
                &body.replace("evt_test_forged", "evt_test_other"),
                WEBHOOK_SECRET,
                now,
            )),
            // Right signature, 301 s old by the platform's clock.
            Some(sign(&body, WEBHOOK_SECRET, now - 301)),
            // Right signature, 301 s in the future.
            Some(sign(&body, WEBHOOK_SECRET, now + 301)),
            // No v1 at all, and no header.
            Some(format!("t={now}")),
            None,
        ];
        for sig in &refused {
            let (status, text) = post_webhook(&app, &body, sig.as_deref()).await;
            assert_eq!(status, 400, "{sig:?}: {text}");
            assert!(text.starts_with("webhook refused"), "clear message: {text}");
        }
        app.db.wait_for_security_events(refused.len()).await;
        assert_eq!(purchase(&app, &session).await.status, PurchaseStatus::Open);

        // 299 s old is within tolerance; with a rotated secret, any one of
        // several v1 values may match.
        let old = sign(&body, WEBHOOK_SECRET, now - 299);
        let good_v1 = old.split_once(",v1=").expect("v1").1;
        let rotated = format!("t={},v1={},v1={good_v1}", now - 299, "0".repeat(64));
        assert_eq!(post_webhook(&app, &body, Some(&rotated)).await.0, 200);
        assert_eq!(purchase(&app, &session).await.status, PurchaseStatus::Paid);
        fake.stop().await;
    }
}

#[actix_web::test]
async fn cancelled_checkout_shows_no_code_and_forgets_the_address() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (app, fake) = spawn(backend, &[]).await;
        let c = app.client();
        let email = "avbrutt-kjop@example.org";
        let session = start_checkout(&c, &fake, email).await;
        assert_eq!(
            fake.session(&session).customer_email.as_deref(),
            Some(email)
        );
        let row = purchase(&app, &session).await;
        assert_eq!(row.receipt, ReceiptState::Pending);
        assert!(row.receipt_sealed.is_some());
        // Stripe's cancel link brings the buyer back to /buy.
        let cancel = local_path(&fake.session(&session).cancel_url);
        let back = c.get(&cancel).await;
        assert_eq!(back.status, 200);
        assert!(
            back.body.contains("Betalingen ble avbrutt"),
            "{}",
            back.body
        );
        // The session expires; Stripe says so.
        fake.expire(&session);
        let body = fake.event("evt_test_exp", "checkout.session.expired", &session, 0);
        assert_eq!(deliver(&app, &body).await, 200);
        let row = purchase(&app, &session).await;
        assert_eq!(row.status, PurchaseStatus::Expired);
        assert_eq!(row.receipt, ReceiptState::Erased);
        assert!(row.receipt_sealed.is_none());
        let page = c.get(&format!("/buy/done?session_id={session}")).await;
        assert!(code_on(&page.body).is_none());
        assert!(page.body.contains("ikke fullført"), "{}", page.body);
        assert!(account_lines(&app).await.is_empty(), "no account minted");
        fake.stop().await;
    }
}

#[actix_web::test]
async fn refund_goes_through_stripe_and_the_code_keeps_working() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (app, fake) = spawn(backend, &[]).await;
        let c = app.client();
        let session = start_checkout(&c, &fake, "").await;
        let success = fake.pay(&session);
        let code = code_on(&c.get(&success).await.body).expect("code");
        let id = purchase(&app, &session).await.id;

        let cli = |args: &[&str]| {
            cli_command(&app.db, args)
                .env("MESTRING_STRIPE_SECRET_KEY", SECRET_KEY)
                .env("MESTRING_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
                .env("MESTRING_STRIPE_API_BASE", &fake.base)
                .output()
                .expect("cli runs")
        };
        let list = cli(&["purchases", "list"]);
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let listed = String::from_utf8_lossy(&list.stdout).into_owned();
        assert!(
            listed.contains(id.as_str()) && listed.contains("paid") && listed.contains("490,00"),
            "{listed}"
        );
        assert!(!listed.contains(&code), "no code in the list");
        let pi = fake.session(&session).payment_intent.expect("paid");
        assert!(
            listed.contains(&pi),
            "Stripe's reference, to match a refund request"
        );

        let out = cli(&["purchases", "refund", id.as_str()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fake.refunds(),
            vec![fake.session(&session).payment_intent.expect("pi")]
        );
        assert_eq!(
            purchase(&app, &session).await.status,
            PurchaseStatus::Refunded
        );
        // Twice: refused, no second refund.
        let again = cli(&["purchases", "refund", id.as_str()]);
        assert!(!again.status.success());
        assert_eq!(fake.refunds().len(), 1);
        // Nothing links the purchase to the account: the code still works.
        assert_eq!(app.client().login(&code).await.status, 303);
        let never = secrets(&app, &c, &code).await;
        fake.assert_never_saw(&never.iter().map(String::as_str).collect::<Vec<_>>());
        fake.stop().await;
    }
}

/// Every file under the test's directory (database, WAL, data directory
/// with key files and outbox, a server process's output) and, on
/// PostgreSQL, `pg_dump`.
fn bytes_under(db: &TestDb) -> Vec<u8> {
    let mut bytes = db.dump_bytes();
    let mut stack = vec![db.dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                bytes.extend(b);
            }
        }
    }
    bytes
}

#[actix_web::test]
async fn the_real_server_writes_no_address_code_or_token_to_its_logs_or_files() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        let fake = FakeStripe::start().await;
        let (port, rx) = crate::dashboard::fake_smtp();
        let smtp = format!("smtp://127.0.0.1:{port}");
        let server = ServerProcess::start(
            &db,
            &[],
            &[
                ("MESTRING_STRIPE_SECRET_KEY", SECRET_KEY),
                ("MESTRING_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
                ("MESTRING_STRIPE_API_BASE", &fake.base),
                ("MESTRING_SMTP_URL", &smtp),
                // Everything the app logs, at every level.
                ("MESTRING_LOG", "debug"),
            ],
        )
        .await;
        let c = server.client();
        let email = format!(
            "logg-{}@example.org",
            mestring_domain::id::Id::generate().as_str()
        );
        let session = start_checkout(&c, &fake, &email).await;
        let success = fake.pay(&session);
        let body = fake.event("evt_test_logs", "checkout.session.completed", &session, 0);
        // The server runs on the real clock.
        let sig = sign(&body, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
        assert_eq!(
            post_webhook_to(&server.base, &body, Some(&sig)).await.0,
            200
        );
        // A forged one too, so the refusal path is in the logs.
        let forged = sign(&body, "whsec_forged", chrono::Utc::now().timestamp());
        assert_eq!(
            post_webhook_to(&server.base, &body, Some(&forged)).await.0,
            400
        );
        crate::helpers::received(&rx, "receipt over SMTP").await;
        let code = code_on(&c.get(&success).await.body).expect("code");
        let user = server.client();
        assert_eq!(user.login(&code).await.status, 303);
        // Wait until the address is erased, then stop the server.
        let url = mestring_store::DatabaseUrl::parse(&db.url).expect("url");
        let store = mestring_store::Store::connect(&url, 1).expect("connect");
        let mut sent = false;
        for _ in 0..100 {
            let s = session.clone();
            let row = store
                .run(move |conn| PurchaseRow::find_by_session(conn, &s))
                .await
                .expect("read")
                .expect("row");
            if row.receipt == ReceiptState::Sent {
                sent = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(sent, "receipt recorded as sent");
        store.close(std::time::Duration::from_secs(5)).await;
        let output = server.output();
        drop(server);
        assert!(
            String::from_utf8_lossy(&output).contains("Stripe webhook refused"),
            "the logs were captured"
        );
        let bytes = bytes_under(&db);
        assert!(
            contains_bytes(&bytes, session.as_bytes()),
            "scan misses the purchases"
        );
        let mut needles = vec![
            email.clone(),
            code.clone(),
            code.replace('-', ""),
            code.replace('-', "").to_lowercase(),
        ];
        needles.extend(c.cookie("mestring_buy"));
        needles.extend(user.cookie("mestring_session"));
        for n in &needles {
            assert!(
                !contains_bytes(&output, n.as_bytes()),
                "server output holds a secret"
            );
            assert!(
                !contains_bytes(&bytes, n.as_bytes()),
                "a file holds a secret on {backend:?}"
            );
        }
        fake.stop().await;
    }
}

/// Every byte under the data directory (SQLite file, WAL, key files,
/// outbox), plus `pg_dump` on PostgreSQL.
fn all_bytes(app: &TestApp) -> Vec<u8> {
    bytes_under(&app.db)
}

/// Every byte under the data directory (and the dump on PostgreSQL) holds
/// the purchase (a positive control: the scan sees the purchases) but
/// neither the receipt address nor its sealed form.
fn assert_address_gone(app: &TestApp, session: &str, email: &str, sealed: &[u8]) {
    let backend = app.db.backend;
    let bytes = all_bytes(app);
    assert!(
        contains_bytes(&bytes, session.as_bytes()),
        "scan misses the purchases"
    );
    assert!(
        !contains_bytes(&bytes, email.as_bytes()),
        "address left on {backend:?}"
    );
    assert!(
        !contains_bytes(&bytes, sealed),
        "sealed address left on {backend:?}"
    );
    assert!(
        !contains_bytes(&bytes, hex::encode(sealed).as_bytes()),
        "sealed address left in the dump on {backend:?}"
    );
}

/// Starts a checkout that asks for a receipt at a fresh address
/// `PREFIX-…@example.org`: the address, the session, and the address as
/// sealed in the database (its bytes must go too).
async fn checkout_with_receipt(
    app: &TestApp,
    c: &Client,
    fake: &FakeStripe,
    prefix: &str,
) -> (String, String, Vec<u8>) {
    let email = format!(
        "{prefix}-{}@example.org",
        mestring_domain::id::Id::generate().as_str()
    );
    let session = start_checkout(c, fake, &email).await;
    let sealed = purchase(app, &session)
        .await
        .receipt_sealed
        .expect("sealed address");
    (email, session, sealed)
}

#[actix_web::test]
async fn receipt_is_sent_without_the_code_then_the_address_is_in_no_byte() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (port, rx) = crate::dashboard::fake_smtp();
        let url = format!("smtp://127.0.0.1:{port}");
        let (app, fake) = spawn(backend, &[("MESTRING_SMTP_URL", &url)]).await;
        let c = app.client();
        let (email, session, sealed) = checkout_with_receipt(&app, &c, &fake, "kvittering").await;
        let success = fake.pay(&session);
        let body = fake.event(
            "evt_test_receipt",
            "checkout.session.completed",
            &session,
            0,
        );
        assert_eq!(deliver(&app, &body).await, 200);
        let mail = crate::helpers::received(&rx, "receipt over SMTP").await;
        let mail = crate::helpers::unfold_quoted_printable(&mail);
        assert!(mail.contains(&email), "to the buyer");
        assert!(
            mail.contains("490,00") && mail.contains("98,00"),
            "price and VAT: {mail}"
        );
        let pi = fake.session(&session).payment_intent.expect("pi");
        assert!(mail.contains(&pi), "Stripe's reference");
        let code = code_on(&c.get(&success).await.body).expect("code");
        assert!(
            !mail.contains(&code) && !mail.contains(&code.replace('-', "")),
            "no code in the receipt"
        );
        // The address is NULLed once sent (wait for the background send to
        // record it).
        let mut row = purchase(&app, &session).await;
        for _ in 0..100 {
            if row.receipt == ReceiptState::Sent {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            row = purchase(&app, &session).await;
        }
        assert_eq!(row.receipt, ReceiptState::Sent);
        assert!(row.receipt_sealed.is_none());
        app.state.store.checkpoint().await.expect("checkpoint");
        assert_address_gone(&app, &session, &email, &sealed);
        fake.stop().await;
    }
}

/// The webhook's pass, the success page's and the sweep can find the same
/// receipt pending at once (so can two nodes): it is sent once.
#[actix_web::test]
async fn passes_that_find_a_receipt_pending_at_once_send_it_once() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let (port, rx) = crate::dashboard::fake_smtp();
        let url = format!("smtp://127.0.0.1:{port}");
        let (app, fake) = spawn(backend, &[("MESTRING_SMTP_URL", &url)]).await;
        let c = app.client();
        let (_, session, _) = checkout_with_receipt(&app, &c, &fake, "en-gang").await;
        fake.pay(&session);
        // The webhook starts a pass in the background; two more start at
        // once while it sends.
        let body = fake.event("evt_test_once", "checkout.session.completed", &session, 0);
        assert_eq!(deliver(&app, &body).await, 200);
        let (a, b) = tokio::join!(
            mestring_checkout::receipt::run(&app.state),
            mestring_checkout::receipt::run(&app.state),
        );
        let sent = a.expect("first pass").sent + b.expect("second pass").sent;
        assert!(sent <= 1, "the explicit passes sent {sent}");
        let mut row = purchase(&app, &session).await;
        for _ in 0..100 {
            if row.receipt == ReceiptState::Sent {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            row = purchase(&app, &session).await;
        }
        assert_eq!(row.receipt, ReceiptState::Sent);
        // Give a second sender time to finish, then count.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mails: Vec<String> = rx.try_iter().collect();
        assert_eq!(mails.len(), 1, "one receipt e-mail");
        fake.stop().await;
    }
}

#[actix_web::test]
async fn unsendable_receipt_is_erased_after_seven_days() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        // A port nobody listens on: every attempt fails.
        let port = crate::helpers::free_port();
        let url = format!("smtp://127.0.0.1:{port}");
        let (app, fake) = spawn(backend, &[("MESTRING_SMTP_URL", &url)]).await;
        let c = app.client();
        let (email, session, sealed) = checkout_with_receipt(&app, &c, &fake, "ukjent").await;
        fake.pay(&session);
        assert!(code_on(&c.get(&format!("/buy/done?session_id={session}")).await.body).is_some());
        let data = app.db.dir.path().join("data");
        // The success page started a pass in the background; while it
        // holds the receipt, another pass leaves it alone. Once it has
        // failed and given the receipt up, the next pass tries (and fails).
        let mut pass = mestring_checkout::receipt::Pass::default();
        for _ in 0..100 {
            pass = mestring_checkout::receipt::run(&app.state)
                .await
                .expect("pass");
            if pass.failed > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!((pass.sent, pass.failed, pass.erased), (0, 1, 0));
        app.clock.advance(Duration::days(6));
        mestring_server::jobs::run_once(&app.state, 30, &data)
            .await
            .expect("sweep");
        let row = purchase(&app, &session).await;
        assert_eq!(
            row.receipt,
            ReceiptState::Pending,
            "kept while under 7 days"
        );
        assert!(row.receipt_sealed.is_some());
        app.clock.advance(Duration::days(1));
        mestring_server::jobs::run_once(&app.state, 30, &data)
            .await
            .expect("sweep");
        let row = purchase(&app, &session).await;
        assert_eq!(row.receipt, ReceiptState::Erased);
        assert!(row.receipt_sealed.is_none());
        app.state.store.checkpoint().await.expect("checkpoint");
        assert_address_gone(&app, &session, &email, &sealed);
        fake.stop().await;
    }
}

/// Two purchases of the same program on the same day, their codes shown
/// in the order `order`: what the database holds, with the random values
/// (ids, Stripe's ids, code hashes) masked, in storage order.
async fn observable_after(backend: Backend, swap: bool) -> (Vec<String>, Vec<String>) {
    let (app, fake) = spawn(backend, &[]).await;
    let a = app.client();
    let b = app.client();
    let sa = start_checkout(&a, &fake, "").await;
    app.clock.advance(Duration::minutes(3));
    let sb = start_checkout(&b, &fake, "").await;
    let pa = fake.pay(&sa);
    let pb = fake.pay(&sb);
    app.clock.advance(Duration::minutes(3));
    let (first, second) = if swap {
        ((&b, &pb), (&a, &pa))
    } else {
        ((&a, &pa), (&b, &pb))
    };
    let c1 = code_on(&first.0.get(first.1).await.body).expect("first code");
    app.clock.advance(Duration::minutes(3));
    let c2 = code_on(&second.0.get(second.1).await.body).expect("second code");
    assert_ne!(c1, c2);

    let accounts = account_lines(&app).await;
    let purchases = purchase_lines(&app).await;
    assert_eq!((accounts.len(), purchases.len()), (2, 2));
    // No value of an account row appears in any purchase row.
    for acc in &accounts {
        for value in acc.split('|').take(2) {
            for p in &purchases {
                assert!(!p.contains(value), "purchase row names an account value");
            }
        }
    }
    let mask = |line: &str, random: &[usize]| {
        line.split('|')
            .enumerate()
            .map(|(i, v)| if random.contains(&i) { "*" } else { v })
            .collect::<Vec<_>>()
            .join("|")
    };
    // accounts: id, code_hash random; purchases: id, session, payment_ref.
    let accounts = accounts.iter().map(|l| mask(l, &[0, 1])).collect();
    let purchases = purchases.iter().map(|l| mask(l, &[0, 1, 8])).collect();
    fake.stop().await;
    (accounts, purchases)
}

#[actix_web::test]
async fn two_purchases_claimed_in_swapped_order_cannot_be_matched() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let in_order = observable_after(backend, false).await;
        let swapped = observable_after(backend, true).await;
        // Whether buyer A or buyer B saw their code first leaves the same
        // database behind: nothing (column, time, order) pairs a purchase
        // with an account.
        assert_eq!(in_order, swapped);
        // And within each, the two rows of each table are identical once
        // the random values are masked.
        assert_eq!(
            in_order.0[0], in_order.0[1],
            "accounts alike: {:?}",
            in_order.0
        );
        assert_eq!(
            in_order.1[0], in_order.1[1],
            "purchases alike: {:?}",
            in_order.1
        );
    }
}

/// The login page tells someone without a clinic's code where to buy
/// one, in every language.
#[actix_web::test]
async fn the_login_page_links_to_buying_a_code() {
    for backend in crate::helpers::backends() {
        let app = crate::helpers::TestApp::spawn(backend).await;
        let c = app.client();
        for (lang, text) in [
            ("nb", "Har du ingen kode fra en klinikk?"),
            ("nn", "Har du ingen kode frå ei klinikk?"),
            ("en", "No code from a clinic?"),
        ] {
            c.get(&format!("/lang/{lang}")).await;
            let page = c.get("/login").await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains(text), "{lang}: {}", page.body);
            assert!(page.body.contains("href=\"/buy\""), "{lang}");
        }
    }
}
