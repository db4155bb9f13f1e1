//! The user's control: sharing consent and its timeline, code rotation,
//! export, self-delete, and the privacy page's numbers.

use chrono::{DateTime, Duration, Utc};
use mestring_domain::access_code::AccessCode;
use mestring_domain::id::Id;
use mestring_domain::policy::sharing::{
    LAPSE_WEEKS as SHARING_LAPSE_WEEKS, RENEWAL_QUESTION_WEEKS as SHARING_RENEWAL_QUESTION_WEEKS,
};
use mestring_store::accounts::AccountRow;
use mestring_store::consent::{SharedRead, read_shared_account};

use crate::helpers::backends;
use crate::helpers::{Client, TestApp};

/// Logs in with an organisation's code; returns the client and where the
/// login sent it.
async fn login(app: &TestApp, code: &str) -> (Client, String) {
    let c = app.client();
    let r = c.login(code).await;
    assert_eq!(r.status, 303, "login failed: {}", r.body);
    (c, r.location().unwrap_or_default().to_owned())
}

/// The account (org, id) behind a code, through the store.
async fn account_of(app: &TestApp, code: &str) -> (Id, Id) {
    let hash = app
        .state
        .pepper
        .hash(&AccessCode::parse(code).expect("code"));
    let row = app
        .state
        .store
        .run(move |conn| AccountRow::find_by_code_hash(conn, &hash))
        .await
        .expect("read")
        .expect("account");
    (row.org_id.clone().expect("org"), row.id.clone())
}

/// Whether staff of `org` could read the account now (the single
/// consent-checking store function).
async fn staff_can_read(app: &TestApp, org: &Id, account: &Id) -> bool {
    let (org, account) = (org.clone(), account.clone());
    let now = app.state.clock.now();
    let read = app
        .state
        .store
        .run(move |conn| {
            read_shared_account(conn, &org, &account, now, |_, row| Ok(row.id.clone()))
        })
        .await
        .expect("read");
    matches!(read, SharedRead::Shared(_))
}

#[actix_web::test]
async fn the_first_login_asks_about_sharing_with_two_equal_choices() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let (c, to) = login(&app, &code).await;
        assert_eq!(to, "/consent");
        let page = c.get("/consent").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Testklinikken"));
        assert_eq!(
            page.body.matches("class=\"choice\"").count(),
            2,
            "two equally weighted buttons"
        );
        assert!(!page.body.contains("checked"), "nothing preselected");
        // Leaving without answering means not shared.
        let (org, account) = account_of(&app, &code).await;
        assert!(!staff_can_read(&app, &org, &account).await);
        c.post("/logout", &[]).await;
        let (_, again) = login(&app, &code).await;
        assert_eq!(again, "/consent", "asked again until answered");
    }
}

#[actix_web::test]
async fn yes_shares_no_declines_and_settings_change_it_in_one_step() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let codes = app.issue_codes(2, None).await;
        let (yes, no) = (codes[0].reveal(), codes[1].reveal());
        let (cy, _) = login(&app, &yes).await;
        assert_eq!(
            cy.post("/consent", &[("choice", "yes")]).await.location(),
            Some("/app")
        );
        let (org, account) = account_of(&app, &yes).await;
        assert!(staff_can_read(&app, &org, &account).await);
        let settings = cy.get("/settings").await;
        assert!(
            settings
                .body
                .contains("Du deler med Testklinikken til og med")
        );
        assert!(settings.body.contains("Du begynte å dele"));

        let (cn, _) = login(&app, &no).await;
        let declined = cn.post("/consent", &[("choice", "no")]).await;
        assert_eq!(declined.status, 303, "the choice is accepted");
        let (org_n, account_n) = account_of(&app, &no).await;
        assert!(!staff_can_read(&app, &org_n, &account_n).await);
        assert_eq!(cn.post("/logout", &[]).await.status, 303);
        let (_, next) = login(&app, &no).await;
        assert_eq!(
            next, "/app",
            "a declined user is not asked again at every login"
        );

        // Withdraw: effective to the second.
        app.clock.advance(Duration::days(3));
        let (cy, _) = login(&app, &yes).await;
        let r = cy
            .post("/settings/sharing", &[("action", "withdraw")])
            .await;
        assert_eq!(r.location(), Some("/settings?done=withdrawn"));
        assert!(!staff_can_read(&app, &org, &account).await);
        app.clock.advance(Duration::seconds(1));
        assert!(!staff_can_read(&app, &org, &account).await);
        // Give again.
        cy.post("/settings/sharing", &[("action", "give")]).await;
        assert!(staff_can_read(&app, &org, &account).await);
        let history = cy.get("/settings").await.body;
        for line in ["Du begynte å dele", "Du sluttet å dele"] {
            assert!(history.contains(line), "history shows {line}");
        }
        // Staff of another organisation see nothing.
        let other = app.create_org("Annen klinikk").await;
        assert!(!staff_can_read(&app, &other, &account).await);
    }
}

#[actix_web::test]
async fn sharing_is_asked_about_at_22_weeks_and_lapses_at_26_to_the_second() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let (c, _) = login(&app, &code).await;
        let given_at: DateTime<Utc> = app.state.clock.now();
        c.post("/consent", &[("choice", "yes")]).await;
        let (org, account) = account_of(&app, &code).await;

        // Just before 22 weeks: no question.
        let ask = mestring_domain::consent::add_calendar_weeks_oslo(
            given_at,
            SHARING_RENEWAL_QUESTION_WEEKS,
        );
        app.clock.advance((ask - given_at) - Duration::seconds(1));
        c.post("/logout", &[]).await;
        assert_eq!(login(&app, &code).await.1, "/app");
        // At 22 weeks: the follow-up question at the next visit.
        app.clock.advance(Duration::seconds(1));
        let (c, to) = login(&app, &code).await;
        assert_eq!(to, "/consent/renew");
        let q = c.get("/consent/renew").await;
        assert!(
            q.body
                .contains("Får du fortsatt oppfølging fra Testklinikken?")
        );

        // No answer: still shared one second before 26 weeks, gone at 26.
        // The interval crosses the switch to summer time (given in
        // November, lapse in May), so the deadline is 26 × 7 days minus
        // one hour of UTC time, on the same Oslo wall clock.
        let lapse =
            mestring_domain::consent::add_calendar_weeks_oslo(given_at, SHARING_LAPSE_WEEKS);
        assert_eq!(
            lapse - given_at,
            Duration::days(7 * 26) - Duration::hours(1),
            "DST is honoured"
        );
        let now = app.state.clock.now();
        app.clock.advance((lapse - now) - Duration::seconds(1));
        assert!(
            staff_can_read(&app, &org, &account).await,
            "one second before the lapse"
        );
        app.clock.advance(Duration::seconds(1));
        assert!(!staff_can_read(&app, &org, &account).await, "at the lapse");
        // The job records the lapse in the history the user sees.
        mestring_server::jobs::run_once(&app.state, 30, &app.db.dir.path().join("data"))
            .await
            .expect("job");
        let (c, to) = login(&app, &code).await;
        assert_eq!(to, "/app");
        assert!(
            c.get("/settings")
                .await
                .body
                .contains("Delingen stoppet av seg selv")
        );
        // Sharing again is possible.
        c.post("/settings/sharing", &[("action", "give")]).await;
        assert!(staff_can_read(&app, &org, &account).await);
    }
}

#[actix_web::test]
async fn yes_at_22_weeks_renews_and_no_ends_sharing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let codes = app.issue_codes(2, None).await;
        let mut clients = Vec::new();
        for code in &codes {
            let (c, _) = login(&app, &code.reveal()).await;
            c.post("/consent", &[("choice", "yes")]).await;
            clients.push(c);
        }
        app.clock.advance(Duration::weeks(22) + Duration::hours(2));
        let (a, to) = login(&app, &codes[0].reveal()).await;
        assert_eq!(to, "/consent/renew");
        assert_eq!(
            a.post("/consent/renew", &[("choice", "yes")])
                .await
                .location(),
            Some("/settings?done=renewed")
        );
        let (b, _) = login(&app, &codes[1].reveal()).await;
        b.post("/consent/renew", &[("choice", "no")]).await;

        let (org_a, acc_a) = account_of(&app, &codes[0].reveal()).await;
        let (org_b, acc_b) = account_of(&app, &codes[1].reveal()).await;
        assert!(
            !staff_can_read(&app, &org_b, &acc_b).await,
            "no ends sharing at once"
        );
        // Past the original 26 weeks the renewed one is still shared…
        app.clock.advance(Duration::weeks(5));
        assert!(staff_can_read(&app, &org_a, &acc_a).await);
        // …until 26 weeks after the renewal.
        app.clock.advance(Duration::weeks(22));
        assert!(!staff_can_read(&app, &org_a, &acc_a).await);
        let (b, _) = login(&app, &codes[1].reveal()).await;
        assert!(
            b.get("/settings")
                .await
                .body
                .contains("oppfølgingen var over")
        );
    }
}

#[actix_web::test]
async fn a_code_without_an_organisation_is_never_asked() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_codes_for(None, None, 1).await[0].reveal();
        let (c, to) = login(&app, &code).await;
        assert_eq!(to, "/app");
        assert_eq!(c.get("/consent").await.location(), Some("/app"));
        assert!(
            c.get("/settings")
                .await
                .body
                .contains("ikke fra en virksomhet")
        );
    }
}

/// The new code on the page that shows it once.
pub fn shown_code(body: &str) -> String {
    let start = body.find("<strong>").expect("code shown") + "<strong>".len();
    let end = body[start..].find("</strong>").expect("end") + start;
    body[start..end].to_owned()
}

#[actix_web::test]
async fn rotating_the_code_retires_the_old_one_and_other_sessions() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let old = app.issue_code().await;
        let (c, _) = login(&app, &old).await;
        c.post("/consent", &[("choice", "yes")]).await;
        let (other, _) = login(&app, &old).await;
        assert_eq!(other.get("/app").await.status, 200);
        let (org, account) = account_of(&app, &old).await;
        let pseudonym_before = app
            .state
            .store
            .run({
                let a = account.clone();
                move |conn| AccountRow::find(conn, &a)
            })
            .await
            .expect("row")
            .pseudonym;

        assert!(
            c.get("/settings/code")
                .await
                .body
                .contains("Den gamle koden slutter å virke")
        );
        let shown = c.post("/settings/code/new", &[]).await;
        assert_eq!(shown.status, 200);
        let new = shown_code(&shown.body);
        assert!(AccessCode::parse(&new).is_ok());
        assert_ne!(new, old);

        // A wrong confirmation changes nothing.
        let wrong = c
            .post(
                "/settings/code/confirm",
                &[("code", &AccessCode::generate().reveal())],
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("Den gamle koden virker fortsatt"));
        assert_eq!(app.client().login(&old).await.status, 303);

        let done = c
            .post("/settings/code/confirm", &[("code", &new.to_lowercase())])
            .await;
        assert_eq!(done.location(), Some("/settings?done=rotated"));
        assert_eq!(
            c.get("/app").await.status,
            200,
            "this session stays logged in"
        );
        assert_eq!(other.get("/app").await.status, 303, "other sessions end");
        let r = app.client().login(&old).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Koden virker ikke"), "the generic failure");
        assert_eq!(app.client().login(&new).await.status, 303);
        // The organisation keeps its pseudonym and still sees the data.
        assert!(staff_can_read(&app, &org, &account).await);
        let pseudonym_after = app
            .state
            .store
            .run(move |conn| AccountRow::find(conn, &account))
            .await
            .expect("row")
            .pseudonym;
        assert_eq!(pseudonym_before, pseudonym_after);
    }
}

#[actix_web::test]
async fn the_export_holds_every_row_the_database_holds_about_the_account() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let (c, _) = login(&app, &code).await;
        c.post("/consent", &[("choice", "yes")]).await;
        c.post("/settings/sharing", &[("action", "withdraw")]).await;
        c.post("/settings/sharing", &[("action", "give")]).await;
        let (_, account) = account_of(&app, &code).await;
        let items: Vec<String> = (1..=9).map(|i| format!("phq9-{i}")).collect();
        let answers: Vec<(&str, &str)> = items.iter().map(|i| (i.as_str(), "1")).collect();
        let scored = c.post("/app/questionnaires/phq9", &answers).await;
        assert_eq!(scored.status, 303, "PHQ-9 saved: {}", scored.body);

        let r = c.get("/settings/export.json").await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("content-disposition")
                .unwrap_or_default()
                .contains("attachment")
        );
        let json: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        let data = json["data"].as_object().expect("data");
        let acc = data["accounts"].as_array().expect("accounts");
        assert_eq!(acc.len(), 1);
        assert_eq!(acc[0]["id"], account.as_str());
        assert!(
            acc[0].get("code_hash").is_none(),
            "no secrets in the export"
        );
        assert!(
            !r.body.contains(&code),
            "the code itself is not stored, so not exported"
        );

        let a = account.clone();
        let counts = app
            .state
            .store
            .run(move |conn| {
                let tables = mestring_store::export::account_tables(conn)?;
                tables
                    .into_iter()
                    .map(|t| mestring_store::export::count_rows(conn, &t, &a).map(|n| (t, n)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .expect("counts");
        assert!(counts.iter().any(|(t, _)| t == "consent_events"));
        for (table, n) in counts {
            let exported = data
                .get(&table)
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            assert_eq!(
                exported as i64, n,
                "table {table}: export has {exported}, database has {n}"
            );
        }
        assert_eq!(data["consent_events"].as_array().map(Vec::len), Some(3));

        let page = c.get("/settings/export").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<table"));
        let csv = c.get("/settings/export/scores.csv").await;
        assert_eq!(csv.status, 200);
        assert!(
            csv.body
                .starts_with("completed_at,questionnaire_id,total,band_id,flags")
        );
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(lines.len(), 2, "{}", csv.body);
        assert!(lines[1].contains(",phq9,9,mild,"), "{}", lines[1]);
        // Item answers are sealed in their response; the export opens them.
        let answers = data["questionnaire_responses"][0]["answers"]
            .as_array()
            .expect("the response's answers, opened");
        assert_eq!(answers.len(), 9, "{answers:?}");
        assert!(answers.iter().all(|a| {
            a["item_id"]
                .as_str()
                .is_some_and(|i| i.starts_with("phq9-"))
        }));
        assert!(
            data["questionnaire_responses"][0]
                .get("answers_sealed")
                .is_none(),
            "sealed bytes are not exported"
        );
        // Another user's session cannot export this account.
        assert_eq!(app.client().get("/settings/export.json").await.status, 303);
    }
}

#[actix_web::test]
async fn self_delete_removes_everything_and_leaves_a_deletion_record() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let (c, _) = login(&app, &code).await;
        c.post("/consent", &[("choice", "yes")]).await;
        let (other, _) = login(&app, &code).await;
        let (org, account) = account_of(&app, &code).await;

        assert!(
            c.get("/settings/delete")
                .await
                .body
                .contains("Slett alle data")
        );
        let unconfirmed = c.post("/settings/delete", &[]).await;
        assert_eq!(unconfirmed.status, 422);
        assert_eq!(
            c.get("/app").await.status,
            200,
            "nothing deleted without confirmation"
        );

        let r = c.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));
        assert!(
            c.get("/deleted")
                .await
                .body
                .contains("Dataene dine er slettet")
        );
        assert_eq!(c.get("/app").await.status, 303);
        assert_eq!(other.get("/app").await.status, 303, "every session ends");
        let again = app.client().login(&code).await;
        assert_eq!(again.status, 422);

        let a = account.clone();
        let (left, records) = app
            .state
            .store
            .run(move |conn| {
                let tables = mestring_store::export::account_tables(conn)?;
                let mut left = 0;
                for t in tables {
                    left += mestring_store::export::count_rows(conn, &t, &a)?;
                }
                Ok((
                    left,
                    mestring_store::deletion::DeletionRecordRow::list_for_org(conn, &org)?,
                ))
            })
            .await
            .expect("read");
        assert_eq!(left, 0, "no row about the account is left");
        assert_eq!(records.len(), 1, "the organisation keeps a deletion record");
        assert!(
            (app.state.clock.now() - records[0].deleted_at)
                .num_seconds()
                .abs()
                < 2
        );
        assert!(!staff_can_read(&app, &records[0].org_id, &account).await);
    }
}

#[actix_web::test]
async fn the_privacy_page_states_the_numbers_the_code_uses() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let page = app.client().get("/privacy").await.body;
        let expected = [
            format!("{} uker av gangen", SHARING_RENEWAL_QUESTION_WEEKS),
            format!(
                "{} uker etter at du sist ga eller fornyet",
                SHARING_LAPSE_WEEKS
            ),
            format!(
                "{} år etter at den ble laget",
                mestring_domain::policy::code::LIFETIME_YEARS
            ),
            format!(
                "slettes etter {} dager",
                mestring_domain::policy::retention::SECURITY_LOG_DAYS
            ),
            format!(
                "etter {} minutter uten aktivitet",
                mestring_domain::policy::session::USER.idle.num_minutes()
            ),
            format!(
                "senest etter {} timer",
                mestring_domain::policy::session::USER.absolute.num_hours()
            ),
            format!(
                "Senest {} timer etter kan ingen lenger åpne det du skrev",
                mestring_domain::policy::shredding::DELETION_BOUND.num_hours()
            ),
        ];
        for text in expected {
            assert!(page.contains(&text), "privacy page lacks {text:?}");
        }
        // The mission's numbers themselves, not only whatever the policy
        // says: a drifted constant must fail here.
        for text in [
            "22 uker av gangen",
            "26 uker etter at du sist ga eller fornyet",
            "5 år etter at den ble laget",
        ] {
            assert!(page.contains(text), "privacy page lacks {text:?}");
        }
        // One click from every page, logged in or not.
        let code = app.issue_code().await;
        let member = app.client();
        assert_eq!(member.login(&code).await.status, 303);
        for path in ["/login", "/settings", "/app", "/deleted", "/privacy"] {
            let r = member.get(path).await;
            assert_eq!(r.status, 200, "{path}");
            assert!(r.body.contains("href=\"/privacy\""), "{path}");
        }
        let failed = app.client().login("0000-0000-0000-0000").await.body;
        assert!(
            failed.contains("5 år"),
            "the login failure names the lifetime"
        );
    }
}

/// Promise 5 (docs/architecture.md) end to end, through the real executable: a unique marker
/// written into a registration is nowhere in the database file, its WAL
/// (or a dump of PostgreSQL) or the server's output after self-delete.
#[actix_web::test]
async fn after_self_delete_a_marker_is_nowhere_in_the_database_bytes_or_output() {
    use crate::helpers::{ServerProcess, TestDb, backends, contains_bytes, run_cli};
    for backend in backends() {
        eprintln!("-- on {backend:?}");
        let db = TestDb::new(backend);
        let org = crate::helpers::cli_create_org(&db, "Sletteklinikken");
        let issued = run_cli(
            &db,
            &[
                "codes",
                "issue",
                "--org",
                &org,
                "--count",
                "1",
                "--program",
                "angst",
            ],
        );
        let code = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
        let server = ServerProcess::start(&db, &[], &[]).await;
        let c = server.client();
        assert_eq!(c.login(&code).await.status, 303);
        c.post("/consent", &[("choice", "yes")]).await;

        let marker = format!("MARKOR{}", Id::generate().as_str().to_uppercase());
        let r = c.save_checkin(&marker).await;
        assert_eq!(r.status, 303, "registration saved: {}", r.body);
        assert!(c.get("/app/registrations").await.body.contains(&marker));
        assert!(
            !contains_bytes(&db.dump_bytes(), marker.as_bytes()),
            "the note is sealed at rest, even before deletion (tests/it/shredding.rs \
             checks every file after the key-encryption keys rotate)"
        );

        let r = c.post("/settings/delete", &[("confirm", "yes")]).await;
        assert_eq!(r.location(), Some("/deleted"));
        assert_eq!(
            c.login(&code).await.status,
            422,
            "the code cannot log in again"
        );
        let output = server.output();
        drop(server);

        let stored = db.dump_bytes();
        assert!(!stored.is_empty());
        assert!(
            !contains_bytes(&stored, marker.as_bytes()),
            "marker survives in the database ({backend:?})"
        );
        assert!(
            !contains_bytes(&output, marker.as_bytes()),
            "marker in the server's output"
        );
        if backend == crate::helpers::Backend::Sqlite {
            for file in db.sqlite_files() {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(
                    !contains_bytes(&bytes, marker.as_bytes()),
                    "marker in {}",
                    file.display()
                );
            }
        }
    }
}

/// The paper code is known to the organisation that handed it out: /app
/// offers to replace it until the user has, and shows when the code was
/// last used to log in (a date, no address), so misuse is visible.
#[actix_web::test]
async fn app_offers_a_code_only_the_user_knows_and_shows_the_last_login() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let issued = app.issue_code().await;
        let (c, _) = login(&app, &issued).await;
        c.post("/consent", &[("choice", "no")]).await;
        let first = c.get("/app").await.body;
        assert!(
            first.contains("Bytt til en kode bare du kjenner"),
            "offered"
        );
        assert!(first.contains("første gang koden din er brukt"));

        let first_login = mestring_domain::clock::Clock::now(app.clock.as_ref());
        assert_eq!(c.post("/logout", &[]).await.status, 303);
        app.clock.advance(Duration::days(2));
        let (c, _) = login(&app, &issued).await;
        let second = c.get("/app").await.body;
        let expected = format!(
            "Koden din ble sist brukt til å logge inn {}.",
            mestring_web::fmt::date_time(first_login)
        );
        assert!(second.contains(&expected), "{second}");

        // After replacing the code, the offer is gone.
        let shown = c.post("/settings/code/new", &[]).await;
        let new = shown_code(&shown.body);
        let done = c.post("/settings/code/confirm", &[("code", &new)]).await;
        assert_eq!(done.status, 303);
        assert!(
            !c.get("/app")
                .await
                .body
                .contains("Bytt til en kode bare du kjenner")
        );

        // A bought code (no organisation) is never offered one.
        let private = app.issue_codes_for(None, None, 1).await[0].reveal();
        let (p, _) = login(&app, &private).await;
        assert!(
            !p.get("/app")
                .await
                .body
                .contains("Bytt til en kode bare du kjenner")
        );
    }
}
