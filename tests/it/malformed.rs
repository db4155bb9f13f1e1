//! Bad input never gets a 5xx and nothing hangs: one regression test per
//! finding of the outside security probe (redirect targets with control
//! characters, NUL bytes, an overflowing page number, bodies that never
//! arrive, methods no route uses); `every_route` keeps every route of the
//! app's table under the probe's categories.

mod every_route;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mestring_domain::clock::Clock;
use mestring_store::staff::StaffRole;

use crate::helpers::{Backend, TestApp, backends};

#[actix_web::test]
async fn control_characters_in_next_never_redirect_elsewhere_or_fail() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        for next in [
            "/%09/evil.example",
            "/%0a/x",
            "/%0d/x",
            "/%0d%0aSet-Cookie:x=1",
        ] {
            let r = c.get(&format!("/lang/en?next={next}")).await;
            assert_eq!(r.status, 303, "{next}");
            assert_eq!(r.location(), Some("/"), "{next}");
        }
        let r = c.get("/lang/en?next=/privacy").await;
        assert_eq!(
            r.location(),
            Some("/privacy"),
            "a plain local path still works"
        );
    }
}

#[actix_web::test]
async fn nul_characters_are_refused_with_400_and_nothing_is_stored() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        // Unauthenticated staff login: 400, not 500 (and on PostgreSQL the
        // NUL never reaches the database).
        let anon = app.client();
        let r = anon
            .post(
                "/staff/login",
                &[("email", "a\0b@x.example.no"), ("password", "x")],
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("nulltegn"), "says what is wrong");
        assert_eq!(anon.post("/login", &[("code", "AB\0CD")]).await.status, 400);
        // In a path segment and in a query.
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        assert_eq!(c.get("/app/results/a%00b").await.status, 400);
        assert_eq!(c.get("/app?x=%00").await.status, 400);
        // Stored text: refused, and the account's feedback stays empty.
        let r = c
            .post(
                "/app/feedback/suggest",
                &[("topic", "correction"), ("body", "hei\0hei")],
            )
            .await;
        assert_eq!(r.status, 400);
        let out = crate::helpers::run_cli(&app.db, &["feedback", "list"]);
        assert!(out.status.success());
        assert!(out.stdout.is_empty(), "nothing stored");
    }
}

#[actix_web::test]
async fn a_page_number_far_past_the_end_is_an_empty_page_not_an_error() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Side").await;
        let boss = app
            .create_staff(&org, "sjef@klinikk-side.no", StaffRole::Superuser)
            .await;
        let c = app.client();
        assert_eq!(
            c.staff_login(&boss, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        for page in ["9223372036854775807", "184467440737095518", "-5", "0"] {
            let r = c.get(&format!("/dashboard?page={page}")).await;
            assert_eq!(r.status, 200, "page={page}");
        }
        // Not a number at all: the query is refused, not a 500.
        assert_eq!(c.get("/dashboard?page=abc").await.status, 400);
    }
}

/// Sends `request` on a raw connection and returns the status line and
/// how long the answer took.
fn raw(addr: &str, request: &[u8], wait: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(wait)).expect("timeout");
    let started = Instant::now();
    s.write_all(request).expect("write");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    (
        text.lines().next().unwrap_or("no answer").to_owned(),
        started.elapsed(),
    )
}

/// Backend-independent (nothing reaches the database), so SQLite only.
#[actix_web::test]
async fn connect_is_refused_at_once_and_a_body_that_never_arrives_times_out() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let cookie = format!("mestring_csrf={}", "0".repeat(64));
    let addr2 = addr.clone();
    let cookie2 = cookie.clone();
    let (connect, took) = actix_web::rt::task::spawn_blocking(move || {
        raw(
            &addr2,
            format!("CONNECT / HTTP/1.1\r\nHost: x\r\nCookie: {cookie2}\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        )
    })
    .await
    .expect("thread");
    assert!(connect.contains(" 405 "), "{connect}");
    assert!(
        took < Duration::from_secs(2),
        "at once, not after a timeout: {took:?}"
    );

    let (post, took) = actix_web::rt::task::spawn_blocking(move || {
        raw(
            &addr,
            format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n"
            )
            .as_bytes(),
            Duration::from_secs(30),
        )
    })
    .await
    .expect("thread");
    assert!(post.contains(" 408 "), "{post}");
    let deadline = mestring_web::csrf::BODY_DEADLINE;
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(5),
        "answered after the body deadline: {took:?}"
    );
}

/// Found by `every_route` on PostgreSQL: two edits of one registration
/// entry at once (two tabs, a double click) made the later one's insert
/// meet the values the earlier one had just written, a 500; with per-account
/// data keys, a read between an edit's statements could also meet values
/// and a key from different moments. The store now takes the entry's row
/// lock first, and loaders re-read when a value does not open: each edit
/// lands, the last one winning, as if they had come one after the other.
#[actix_web::test]
async fn simultaneous_edits_of_one_entry_all_land() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        let fields = |mood: &'static str| {
            vec![
                ("mood", mood),
                ("worry", "2"),
                ("sleep", "good"),
                ("activity", "some"),
                ("note", "samtidig"),
            ]
        };
        let r = c
            .post("/app/registrations/daily-checkin/new", &fields("5"))
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let list = c.get("/app/registrations").await.body;
        let at = list.find("/app/registrations/entries/").expect("an entry");
        let edit = list[at..]
            .split('"')
            .next()
            .expect("the edit link")
            .to_owned();
        assert!(edit.ends_with("/edit"), "{edit}");
        let session = c.cookie("mestring_session").expect("session");
        // Four at once, eight rounds.
        for round in 0..8 {
            let mut tasks = Vec::new();
            for n in 0..4 {
                let client = app.client();
                client.set_cookie("mestring_session", &session);
                let edit = edit.clone();
                let mood = ["1", "3", "7", "9"][n];
                tasks.push(actix_web::rt::spawn(async move {
                    client.post(&edit, &fields(mood)).await.status
                }));
            }
            for task in tasks {
                let status = task.await.expect("task");
                assert_eq!(status, 303, "{backend:?} round {round}");
            }
        }
        assert!(c.get("/app/registrations").await.body.contains("samtidig"));
    }
}
