//! Group data (issue 11): channels, tool managers, and small-cell
//! suppression that subtraction across views cannot undo.

use std::collections::HashMap;

use mestring_domain::channel::ChannelSlug;
use mestring_domain::clock::Clock;
use mestring_domain::id::Id;
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::{StaffHome, StaffRole};

use crate::helpers::*;

/// A channel `helsenorge` with a big organisation (40 users, a quarter of
/// them answering PHQ-9 twice) and a small one (3 users, one of whom then
/// deletes everything).
struct Fixture {
    app: TestApp,
    big: Id,
    small: Id,
}

/// The channel `helsenorge` with two organisations in it.
async fn helsenorge_with(app: &TestApp, first: &str, second: &str) -> (Id, Id) {
    let now = app.clock.now();
    let (first, second) = (first.to_owned(), second.to_owned());
    app.state
        .store
        .run(move |conn| {
            let ch = ChannelSlug::parse("helsenorge").expect("slug");
            ChannelRow::insert(conn, &ch, "Helsenorge", now)?;
            Ok((
                OrganisationRow::insert_in(conn, &first, &ch, now)?,
                OrganisationRow::insert_in(conn, &second, &ch, now)?,
            ))
        })
        .await
        .expect("channel and organisations")
}

async fn fixture(backend: Backend) -> Fixture {
    let app = TestApp::spawn(backend).await;
    let (big, small) = helsenorge_with(&app, "Stor klinikk", "Liten klinikk").await;
    let big_codes = app
        .issue_codes_for(Some(&big), Some("nedstemthet"), 40)
        .await;
    for (i, code) in big_codes.iter().enumerate() {
        let c = app.client();
        assert_eq!(c.login(&code.reveal()).await.status, 303);
        if i == 0 {
            // One user shares, so the organisation has a user page.
            assert_eq!(c.post("/consent", &[("choice", "yes")]).await.status, 303);
        }
        if i % 4 == 0 {
            c.answer_all("phq9", 9, "3").await;
            // The latest answer is the later one.
            app.clock.advance(chrono::Duration::minutes(1));
            c.answer_all("phq9", 9, "1").await;
        }
    }
    let small_codes = app
        .issue_codes_for(Some(&small), Some("nedstemthet"), 3)
        .await;
    for (i, code) in small_codes.iter().enumerate() {
        let c = app.client();
        assert_eq!(c.login(&code.reveal()).await.status, 303);
        c.answer_all("phq9", 9, "2").await;
        if i == 0 {
            let r = c.post("/settings/delete", &[("confirm", "yes")]).await;
            assert_eq!(r.location(), Some("/deleted"));
        }
    }
    Fixture { app, big, small }
}

/// The channel's tool manager, created in the store.
async fn tool_manager(app: &TestApp) -> StaffFixture {
    let home = StaffHome::Channel(ChannelSlug::parse("helsenorge").expect("slug"));
    app.create_staff_at(home, "forvalter@helsenorge.no", StaffRole::ToolManager)
        .await
}

/// (measure, scope, row, column) → value, from the long-format CSV.
fn parse_csv(body: &str) -> HashMap<(String, String, String, String), String> {
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("measure,scope,row,column,value"));
    lines
        .map(|l| {
            let f: Vec<String> = l
                .split(',')
                .map(|s| s.trim_matches('"').to_owned())
                .collect();
            assert_eq!(f.len(), 5, "{l}");
            (
                (f[0].clone(), f[1].clone(), f[2].clone(), f[3].clone()),
                f[4].clone(),
            )
        })
        .collect()
}

fn assert_no_small_cell(csv: &HashMap<(String, String, String, String), String>) {
    for (key, v) in csv {
        assert!(!v.is_empty(), "never blank: {key:?}");
        if let Ok(n) = v.parse::<u64>() {
            assert!(!(1..=4).contains(&n), "{key:?} shows {n}");
        } else {
            assert!(
                ["suppressed", "too-few-users", "refused"].contains(&v.as_str()),
                "{key:?}: {v}"
            );
        }
    }
}

#[actix_web::test]
async fn organisations_see_their_group_data_and_small_ones_see_too_few_users() {
    for backend in backends() {
        let Fixture { app, big, small } = fixture(backend).await;
        let now = app.clock.now();
        let big_admin = app
            .create_staff(&big, "leder@stor.no", StaffRole::Superuser)
            .await;
        let big_clin = app
            .create_staff(&big, "klin@stor.no", StaffRole::Clinician)
            .await;
        let small_admin = app
            .create_staff(&small, "leder@liten.no", StaffRole::Superuser)
            .await;

        let c = app.client();
        c.staff_login(&big_admin, now).await;
        let page = c.get("/dashboard/aggregates").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Gruppedata for Stor klinikk"),
            "{}",
            page.body
        );
        for id in ["users", "started", "phq9-bands", "change", "deletions"] {
            assert!(page.body.contains(&format!("<table id=\"{id}\"")), "{id}");
        }
        assert!(page.body.contains("<svg class=\"bars\""));
        assert!(!page.body.contains("For få brukere"));
        let big_csv = parse_csv(&c.get("/dashboard/aggregates.csv").await.body);
        assert_no_small_cell(&big_csv);
        let scope = format!("organisation:{big}");
        // 40 users; the ten who answered twice went from 27 to 9: a reliable
        // improvement, and out of the clinical range.
        assert_eq!(
            big_csv[&("users".into(), scope.clone(), "all".into(), "all".into())],
            "40"
        );
        assert_eq!(
            big_csv[&(
                "change".into(),
                scope.clone(),
                "phq9".into(),
                "improved".into()
            )],
            "10"
        );
        assert_eq!(
            big_csv[&(
                "recovery".into(),
                scope.clone(),
                "phq9".into(),
                "recovered".into()
            )],
            "10"
        );

        // Shares come only from published counts: 10 of 10 improved.
        assert!(page.body.contains(">10 (100 %)</td>"), "a share of the row");

        // A clinician sees the same page.
        let cc = app.client();
        cc.staff_login(&big_clin, now).await;
        assert_eq!(cc.get("/dashboard/aggregates").await.status, 200);

        let s = app.client();
        s.staff_login(&small_admin, now).await;
        let page = s.get("/dashboard/aggregates").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains("For få brukere til å vise gruppedata: det trengs minst 5.")
        );
        assert!(!page.body.contains("<table id=\"users\""));
        let small_csv = parse_csv(&s.get("/dashboard/aggregates.csv").await.body);
        assert_no_small_cell(&small_csv);
        assert!(small_csv.values().all(|v| v == "too-few-users"));

        // Organisation staff have no channel view.
        assert_eq!(c.get("/dashboard/channel").await.status, 404);
        assert_eq!(c.get("/dashboard/channel.csv").await.status, 404);
    }
}

#[actix_web::test]
async fn the_channel_minus_the_big_organisation_never_reveals_the_small_one() {
    for backend in backends() {
        let Fixture { app, big, small } = fixture(backend).await;
        let now = app.clock.now();
        let manager = tool_manager(&app).await;
        let c = app.client();
        let r = c.staff_login(&manager, now).await;
        assert_eq!(r.location(), Some("/dashboard/channel"));
        let page = c.get("/dashboard/channel").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Gruppedata for kanalen Helsenorge"));
        assert!(page.body.contains("Stor klinikk") && page.body.contains("Liten klinikk"));

        let csv = parse_csv(&c.get("/dashboard/channel.csv").await.body);
        assert_no_small_cell(&csv);
        let channel = "channel:helsenorge".to_owned();
        let big_scope = format!("organisation:{big}");
        let small_scope = format!("organisation:{small}");
        // The small organisation publishes nothing.
        assert!(
            csv.iter()
                .filter(|((_, s, _, _), _)| *s == small_scope)
                .all(|(_, v)| v == "too-few-users")
        );
        // For every value the channel publishes, subtract the big
        // organisation's value for the same cell: the difference is the
        // small organisation's value, so the two may never both be shown.
        let mut pairs = 0;
        for ((measure, scope, row, col), v) in &csv {
            if *scope != channel {
                continue;
            }
            pairs += 1;
            let big_v = &csv[&(measure.clone(), big_scope.clone(), row.clone(), col.clone())];
            if let (Ok(ch), Ok(b)) = (v.parse::<i64>(), big_v.parse::<i64>()) {
                panic!(
                    "{measure}/{row}/{col}: channel {ch} − big {b} = {} reveals the small organisation",
                    ch - b
                );
            }
        }
        assert!(
            pairs > 100,
            "the channel publishes its tables ({pairs} values)"
        );
        // The big organisation's values are the same in its own view.
        let admin = app
            .create_staff(&big, "leder@stor.no", StaffRole::Superuser)
            .await;
        let a = app.client();
        a.staff_login(&admin, now).await;
        let own = parse_csv(&a.get("/dashboard/aggregates.csv").await.body);
        for (key, v) in &own {
            assert_eq!(csv.get(key), Some(v), "{key:?}");
        }

        // Deletion records: organisation and day, no pseudonym.
        assert!(page.body.contains("id=\"deletion-records\""));
        let small_admin = app
            .create_staff(&small, "leder@liten.no", StaffRole::Superuser)
            .await;
        let s = app.client();
        s.staff_login(&small_admin, now).await;
        let own_deletions = s.get("/dashboard/deletions").await.body;
        let pseudonym = own_deletions
            .split("<code>")
            .nth(1)
            .and_then(|r| r.split("</code>").next())
            .expect("the organisation sees the deleted code's pseudonym")
            .to_owned();
        assert!(
            !page.body.contains(&pseudonym),
            "no pseudonym for the tool manager"
        );
        let today = now.format("%Y-%m-%d").to_string();
        assert!(
            page.body
                .contains(&format!("<td>Liten klinikk</td><td>{today}</td>"))
        );
    }
}

#[actix_web::test]
async fn a_tool_manager_gets_404_on_every_organisation_page() {
    for backend in backends() {
        let Fixture { app, big, .. } = fixture(backend).await;
        let now = app.clock.now();
        // Collect real URLs of individuals, sheets and logs as a superuser.
        let admin = app
            .create_staff(&big, "leder@stor.no", StaffRole::Superuser)
            .await;
        let a = app.client();
        a.staff_login(&admin, now).await;
        let issued = a
            .post(
                "/dashboard/codes",
                &[("count", "2"), ("program", "nedstemthet")],
            )
            .await;
        let sheet = issued.location().expect("to the sheet").to_owned();
        let home = a.get("/dashboard").await.body;
        let user = home
            .split("href=\"/dashboard/users/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a user link")
            .to_owned();
        let staff_page = a.get("/dashboard/staff").await.body;
        let mut urls: Vec<String> = vec![
            "/dashboard".into(),
            "/dashboard/aggregates".into(),
            "/dashboard/aggregates.csv".into(),
            "/dashboard/access-log".into(),
            "/dashboard/deletions".into(),
            "/dashboard/staff".into(),
            format!("/dashboard/users/{user}"),
            format!("/dashboard/users/{user}/summary"),
            sheet,
        ];
        urls.extend(
            staff_page
                .split("href=\"")
                .skip(1)
                .filter_map(|r| r.split('"').next())
                .filter(|h| h.starts_with("/dashboard/staff/"))
                .map(str::to_owned),
        );
        for url in &urls {
            assert_eq!(a.get(url).await.status, 200, "the superuser sees {url}");
        }

        let manager = tool_manager(&app).await;
        let c = app.client();
        c.staff_login(&manager, now).await;
        for url in &urls {
            assert_eq!(c.get(url).await.status, 404, "tool manager on {url}");
        }
        let posted = c
            .post(
                "/dashboard/codes",
                &[("count", "1"), ("program", "nedstemthet")],
            )
            .await;
        assert_eq!(posted.status, 404, "a tool manager cannot issue codes");
        // Their own profile works, with the channel's menu.
        let profile = c.get("/dashboard/profile").await;
        assert_eq!(profile.status, 200);
        assert!(profile.body.contains("Verktøyforvalter"));
        assert!(profile.body.contains("href=\"/dashboard/channel\""));
        assert!(
            !profile.body.contains("href=\"/dashboard\""),
            "no organisation menu"
        );
    }
}

#[actix_web::test]
async fn channels_and_tool_managers_from_the_command_line() {
    for backend in backends() {
        let db = TestDb::new(backend);
        let out = run_cli(
            &db,
            &["channel", "create", "helsenorge", "--name", "Helsenorge"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "helsenorge");
        let again = run_cli(&db, &["channel", "create", "helsenorge"]);
        assert!(!again.status.success());
        // The slug as a flag, or a name that is a slug, work too.
        let flag = run_cli(&db, &["channel", "create", "--slug", "kommune"]);
        assert!(
            flag.status.success(),
            "{}",
            String::from_utf8_lossy(&flag.stderr)
        );
        let by_name = run_cli(&db, &["channel", "create", "--name", "skole"]);
        assert_eq!(String::from_utf8_lossy(&by_name.stdout).trim(), "skole");
        let none = run_cli(&db, &["channel", "create"]);
        assert!(String::from_utf8_lossy(&none.stderr).contains("give the channel's slug"));
        let bad = run_cli(&db, &["channel", "create", "Helse Norge"]);
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("a-z, 0-9"));

        let org = run_cli(
            &db,
            &[
                "org",
                "create",
                "--name",
                "Klinikk",
                "--channel",
                "helsenorge",
            ],
        );
        assert!(
            org.status.success(),
            "{}",
            String::from_utf8_lossy(&org.stderr)
        );
        let org_id = String::from_utf8_lossy(&org.stdout).trim().to_owned();
        let missing = run_cli(
            &db,
            &["org", "create", "--name", "X", "--channel", "nowhere"],
        );
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("no such channel"));

        let list = run_cli(&db, &["channel", "list"]);
        let text = String::from_utf8_lossy(&list.stdout).into_owned();
        assert!(text.contains("direct\t0\tDirect"), "{text}");
        assert!(text.contains("helsenorge\t1\tHelsenorge"), "{text}");

        let tm = run_cli(
            &db,
            &[
                "staff",
                "create",
                "--channel",
                "helsenorge",
                "--email",
                "tm@helsenorge.no",
                "--name",
                "Tool Manager",
                "--role",
                "tool-manager",
            ],
        );
        assert!(
            tm.status.success(),
            "{}",
            String::from_utf8_lossy(&tm.stderr)
        );
        assert!(String::from_utf8_lossy(&tm.stdout).contains("/staff/invite/"));
        // The role must match the home.
        let wrong = run_cli(
            &db,
            &[
                "staff",
                "create",
                "--org",
                &org_id,
                "--email",
                "x@k.no",
                "--name",
                "X",
                "--role",
                "tool-manager",
            ],
        );
        assert!(!wrong.status.success());
        assert!(
            String::from_utf8_lossy(&wrong.stderr).contains("tool manager belongs to a channel")
        );
        let wrong = run_cli(
            &db,
            &[
                "staff",
                "create",
                "--channel",
                "helsenorge",
                "--email",
                "y@k.no",
                "--name",
                "Y",
                "--role",
                "clinician",
            ],
        );
        assert!(!wrong.status.success());
    }
}

#[actix_web::test]
async fn the_threshold_comes_from_config_and_the_privacy_page_says_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let page = app.client().get("/privacy").await.body;
        assert!(page.contains("<h2>Gruppedata</h2>"));
        assert!(page.contains("færre enn 5 personer"), "the policy's k");

        let raised = TestApp::spawn_with_env(backend, &[("MESTRING_AGGREGATES_K", "7")]).await;
        let page = raised.client().get("/privacy").await.body;
        assert!(page.contains("færre enn 7 personer"), "the configured k");
        // An organisation of 6 users is too small at k = 7.
        let org = raised.create_org("Seks").await;
        for code in raised
            .issue_codes_for(Some(&org), Some("nedstemthet"), 6)
            .await
        {
            assert_eq!(raised.client().login(&code.reveal()).await.status, 303);
        }
        let admin = raised
            .create_staff(&org, "leder@seks.no", StaffRole::Superuser)
            .await;
        let c = raised.client();
        c.staff_login(&admin, raised.clock.now()).await;
        let page = c.get("/dashboard/aggregates").await.body;
        assert!(page.contains("det trengs minst 7"), "{page}");
    }
}

#[actix_web::test]
async fn voided_answers_leave_the_group_data() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Retting").await;
        let mut users = Vec::new();
        for code in app
            .issue_codes_for(Some(&org), Some("nedstemthet"), 6)
            .await
        {
            let c = app.client();
            assert_eq!(c.login(&code.reveal()).await.status, 303);
            let result = c.answer_all("phq9", 9, "3").await;
            users.push((code.reveal(), result));
        }
        let admin = app
            .create_staff(&org, "leder@retting.no", StaffRole::Superuser)
            .await;
        let a = app.client();
        a.staff_login(&admin, app.clock.now()).await;
        let scope = format!("organisation:{org}");
        let people_with_phq9 = |csv: &HashMap<(String, String, String, String), String>| {
            let key = (
                "phq9-bands".to_owned(),
                scope.clone(),
                "total".to_owned(),
                "total".to_owned(),
            );
            csv[&key].clone()
        };
        let before = parse_csv(&a.get("/dashboard/aggregates.csv").await.body);
        assert_eq!(people_with_phq9(&before), "6");

        // One user voids their only answer. The stored counts serve until
        // the hourly maintenance refreshes those older than half an hour.
        let void = |n: usize| {
            let (code, result) = users[n].clone();
            let c = app.client();
            async move {
                assert_eq!(c.login(&code).await.status, 303);
                let voided = c.post(&format!("{result}/void"), &[]).await;
                assert_eq!(voided.location(), Some("/app/results?voided=1"));
            }
        };
        void(0).await;
        let cached = parse_csv(&a.get("/dashboard/aggregates.csv").await.body);
        assert_eq!(people_with_phq9(&cached), "6", "the stored counts serve");
        app.clock.advance(chrono::Duration::minutes(31));
        let refreshed = mestring_dashboard::aggregates::refresh_snapshots(&app.state)
            .await
            .expect("refresh");
        assert_eq!(refreshed, 1, "the one channel looked at");
        let a = app.client();
        a.staff_login(&admin, app.clock.now()).await;
        let page = a.get("/dashboard/aggregates").await.body;
        let as_of = mestring_web::fmt::date_time(app.clock.now());
        assert!(page.contains(&format!("Tallene er fra {as_of}.")), "{page}");
        let after = parse_csv(&a.get("/dashboard/aggregates.csv").await.body);
        assert_eq!(people_with_phq9(&after), "5");

        // Another voids; past the hour a request recomputes by itself, and
        // four people are a group too small to show.
        void(1).await;
        app.clock.advance(chrono::Duration::minutes(61));
        let a = app.client();
        a.staff_login(&admin, app.clock.now()).await;
        let after = parse_csv(&a.get("/dashboard/aggregates.csv").await.body);
        assert_eq!(people_with_phq9(&after), "suppressed");
    }
}

#[actix_web::test]
async fn a_tool_manager_is_invited_sets_a_password_and_totp_and_logs_in() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let now = app.clock.now();
        let channel = ChannelSlug::parse("helsenorge").expect("slug");
        let insert = channel.clone();
        app.state
            .store
            .run(move |conn| ChannelRow::insert(conn, &insert, "Helsenorge", now))
            .await
            .expect("channel");
        let invitation = mestring_dashboard::invite::invite(
            &app.state.store,
            &app.state.mail,
            &app.base,
            &StaffHome::Channel(channel),
            "forvalter@helsenorge.no",
            "Forvalter",
            StaffRole::ToolManager,
            now,
        )
        .await
        .expect("invited");
        let mails = outbox_mails(&app.db.dir.path().join("data"));
        assert!(
            mails.iter().any(|m| m.contains("Helsenorge")),
            "names the channel"
        );
        let link = invite_path(&invitation.link).expect("path");
        let c = app.client();
        let pw = "en lang setning for verktoyforvalteren";
        let ok = c
            .post(&link, &[("password", pw), ("password_repeat", pw)])
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let totp_path = ok.location().expect("totp step").to_owned();
        let page = c.get(&totp_path).await.body;
        let secret = page
            .split("id=\"totp-secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("secret shown");
        let secret = mestring_dashboard::totp::TotpSecret::from_base32(secret).expect("base32");
        let done = c.post(&totp_path, &[("totp", &secret.code_at(now))]).await;
        assert_eq!(done.location(), Some("/staff/login?activated=true"));

        // Log in a step later (a TOTP step is accepted once).
        app.clock.advance(chrono::Duration::seconds(30));
        let later = app.clock.now();
        let first = c
            .post(
                "/staff/login",
                &[("email", "forvalter@helsenorge.no"), ("password", pw)],
            )
            .await;
        assert_eq!(first.status, 303);
        let second = c
            .post("/staff/login", &[("totp", &secret.code_at(later))])
            .await;
        assert_eq!(second.location(), Some("/dashboard/channel"));
        let view = c.get("/dashboard/channel").await;
        assert_eq!(view.status, 200);
        assert!(
            view.body.contains("For få brukere"),
            "an empty channel shows nothing"
        );
        assert_eq!(
            c.get("/staff/login").await.location(),
            Some("/dashboard/channel")
        );
    }
}

#[actix_web::test]
async fn a_clinic_without_users_does_not_blank_its_channel() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let now = app.clock.now();
        let (busy, _empty) = helsenorge_with(&app, "Travel klinikk", "Ny klinikk").await;
        for code in app
            .issue_codes_for(Some(&busy), Some("nedstemthet"), 10)
            .await
        {
            assert_eq!(app.client().login(&code.reveal()).await.status, 303);
        }
        let manager = tool_manager(&app).await;
        let c = app.client();
        c.staff_login(&manager, now).await;
        let csv = parse_csv(&c.get("/dashboard/channel.csv").await.body);
        assert_no_small_cell(&csv);
        let users = |scope: &str| {
            csv[&("users".into(), scope.to_owned(), "all".into(), "all".into())].clone()
        };
        // The new clinic counts nobody: the channel's figure is the busy
        // clinic's, and both are shown.
        assert_eq!(users("channel:helsenorge"), "10");
        assert_eq!(users(&format!("organisation:{busy}")), "10");
    }
}
