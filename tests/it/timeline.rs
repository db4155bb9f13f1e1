//! The consent timeline through the real executable built with the
//! `test-clock` feature: time comes from `MESTRING_CLOCK_FILE`, and staff
//! look through the dashboard exactly as they would in production.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mestring_dashboard::totp::TotpSecret;
use mestring_domain::consent::add_calendar_weeks_oslo;
use mestring_domain::policy::sharing::{
    LAPSE_WEEKS as SHARING_LAPSE_WEEKS, RENEWAL_QUESTION_WEEKS as SHARING_RENEWAL_QUESTION_WEEKS,
};

use crate::helpers::{Client, ServerProcess, TestDb, backends};

/// Demo staff credentials printed by `serve --demo`.
struct Staff {
    email: String,
    password: String,
    secret: TotpSecret,
}

async fn demo_output(server: &ServerProcess) -> String {
    for _ in 0..100 {
        let out = server.stdout();
        if out.contains("demo staff totp secret:") {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no demo staff lines: {}", server.stdout());
}

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// A fresh staff session at the server's (file) time `now`.
async fn staff_at(server: &ServerProcess, staff: &Staff, now: DateTime<Utc>) -> Client {
    let c = server.client();
    let r = c
        .post(
            "/staff/login",
            &[("email", &staff.email), ("password", &staff.password)],
        )
        .await;
    assert_eq!(r.status, 303, "password step");
    let r = c
        .post("/staff/login", &[("totp", &staff.secret.code_at(now))])
        .await;
    assert_eq!(r.location(), Some("/dashboard"), "totp step");
    c
}

/// A fresh user session; returns it and where login sent it.
async fn user_at(server: &ServerProcess, code: &str) -> (Client, String) {
    let c = server.client();
    let r = c.login(code).await;
    assert_eq!(r.status, 303, "user login: {}", r.body);
    (c, r.location().unwrap_or_default().to_owned())
}

/// Whether the staff member sees the user's data on the user's page.
async fn staff_sees(c: &Client, page: &str) -> bool {
    let r = c.get(page).await;
    assert_eq!(r.status, 200, "{page}");
    let hidden = r
        .body
        .contains("Brukeren deler ikke data med virksomheten nå");
    let shown = r.body.contains("Brukeren deler data med virksomheten til");
    assert!(hidden != shown, "exactly one of the two states is shown");
    shown
}

fn codes_in(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .filter(|s| s.len() == 19 && s.matches('-').count() == 3)
        .map(str::to_owned)
        .collect()
}

fn user_link(html: &str) -> Option<String> {
    let at = html.find("/dashboard/users/")?;
    let end = html[at..].find('"')? + at;
    Some(html[at..end].to_owned())
}

#[actix_web::test]
async fn with_the_test_clock_staff_lose_sight_at_26_weeks_to_the_second_across_dst() {
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        let clock_file = db.dir.path().join("clock.txt");
        let set =
            |t: DateTime<Utc>| std::fs::write(&clock_file, t.to_rfc3339()).expect("clock file");
        // Winter time in Oslo; 26 weeks later is summer time.
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .expect("valid");
        set(t0);
        let clock_env = clock_file.display().to_string();
        let server =
            ServerProcess::start(&db, &["--demo"], &[("MESTRING_CLOCK_FILE", &clock_env)]).await;
        let out = demo_output(&server).await;
        let silent = field(&out, "demo code:");
        let staff = Staff {
            email: field(&out, "demo staff email:"),
            password: field(&out, "demo staff password:"),
            secret: TotpSecret::from_base32(&field(&out, "demo staff totp secret:"))
                .expect("base32"),
        };

        // Two more codes from the dashboard: one will renew, one will end.
        let s = staff_at(&server, &staff, t0).await;
        let program = "angst";
        let r = s
            .post("/dashboard/codes", &[("program", program), ("count", "2")])
            .await;
        let sheet = s.get(r.location().expect("sheet")).await;
        let issued = codes_in(&sheet.body);
        assert_eq!(issued.len(), 2);
        let (renewer, ender) = (issued[0].clone(), issued[1].clone());

        // Day 0: all three share.
        let mut pages = Vec::new();
        for code in [&silent, &renewer, &ender] {
            let (u, to) = user_at(&server, code).await;
            assert_eq!(to, "/consent");
            u.post("/consent", &[("choice", "yes")]).await;
            let found = s.get(&format!("/dashboard?q={code}")).await;
            pages.push(user_link(&found.body).expect("a link to the user's page while sharing"));
        }
        assert!(staff_sees(&s, &pages[0]).await);

        // The follow-up question: not a second before 22 weeks, at 22 weeks.
        let ask = add_calendar_weeks_oslo(t0, SHARING_RENEWAL_QUESTION_WEEKS);
        set(ask - Duration::seconds(1));
        assert_eq!(user_at(&server, &silent).await.1, "/app");
        set(ask);
        assert_eq!(user_at(&server, &silent).await.1, "/consent/renew");
        let (u, to) = user_at(&server, &renewer).await;
        assert_eq!(to, "/consent/renew");
        u.post("/consent/renew", &[("choice", "yes")]).await;
        let (u, _) = user_at(&server, &ender).await;
        u.post("/consent/renew", &[("choice", "no")]).await;
        let s = staff_at(&server, &staff, ask).await;
        assert!(!staff_sees(&s, &pages[2]).await, "no ends sharing at once");

        // No answer: visible until the second 26 weeks have passed. The
        // deadline is on Oslo's wall clock, so across the switch to summer
        // time it is one hour earlier in UTC than 182 × 24 hours.
        let lapse = add_calendar_weeks_oslo(t0, SHARING_LAPSE_WEEKS);
        assert_eq!(lapse, t0 + Duration::days(182) - Duration::hours(1));
        let before = lapse - Duration::seconds(1);
        set(before);
        // One staff session across the three seconds (a TOTP code works once).
        let s = staff_at(&server, &staff, before).await;
        assert!(staff_sees(&s, &pages[0]).await, "the second before");
        set(lapse);
        assert!(!staff_sees(&s, &pages[0]).await, "at the lapse");
        set(lapse + Duration::seconds(1));
        assert!(!staff_sees(&s, &pages[0]).await, "the second after");
        // The renewed one is still visible past the original deadline.
        assert!(staff_sees(&s, &pages[1]).await);
        drop(server);
    }
}
