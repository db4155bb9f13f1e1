//! End-to-end tests for the program area: questionnaires with scoring and
//! the crisis box, continuing where one left off, locked steps,
//! registrations, results over time, feedback and ownership of ids.

use chrono::Duration;
use mestring_domain::access_code::AccessCode;
use mestring_store::accounts::AccountRow;
use mestring_store::activity::ActivityDayRow;

use crate::helpers::backends;
use crate::helpers::{Client, TestApp, run_cli};

/// Logs a new client in with a fresh code for `program`.
async fn logged_in(app: &TestApp, program: Option<&str>) -> (Client, AccessCode) {
    let code = app.issue_codes(1, program).await.remove(0);
    let c = app.client();
    let r = c.login(&code.reveal()).await;
    assert_eq!(r.status, 303, "login: {}", r.body);
    (c, code)
}

fn phq9(values: &[(u32, u32)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(item, v)| (format!("phq9-{item}"), v.to_string()))
        .collect()
}

fn all(prefix: &str, n: u32, value: u32) -> Vec<(String, String)> {
    (1..=n)
        .map(|i| (format!("{prefix}-{i}"), value.to_string()))
        .collect()
}

async fn post_owned(c: &Client, path: &str, fields: &[(String, String)]) -> crate::helpers::Resp {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.post(path, &borrowed).await
}

/// Submits a questionnaire and returns the result page's path.
async fn submit(c: &Client, q: &str, fields: &[(String, String)]) -> String {
    let r = post_owned(c, &format!("/app/questionnaires/{q}"), fields).await;
    assert_eq!(r.status, 303, "submit {q}: {}", r.body);
    let to = r.location().expect("redirect").to_owned();
    assert!(to.starts_with("/app/results/"), "{to}");
    to
}

/// Answers given at the same moment by one user all land: each of them
/// updates the user's score summary (what the clinician's overview reads),
/// and on PostgreSQL two answers at once used to race on that row (a
/// duplicate first row, or the earlier answer overwriting the later),
/// which failed some of them with a 500.
#[actix_web::test]
async fn many_answers_at_once_all_land() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let forms: Vec<Vec<(String, String)>> = (0..24).map(|i| all("phq9", 9, i % 4)).collect();
        let answers = futures_util::future::join_all(
            forms
                .iter()
                .map(|f| post_owned(&c, "/app/questionnaires/phq9", f)),
        )
        .await;
        let mut results = std::collections::BTreeSet::new();
        for r in &answers {
            assert_eq!(r.status, 303, "{backend:?}: {}", r.body);
            results.insert(r.location().expect("to the result").to_owned());
        }
        assert_eq!(results.len(), 24, "{backend:?}: one result per answer");
        for path in &results {
            assert_eq!(c.get(path).await.status, 200, "{backend:?}: {path}");
        }
    }
}

const CRISIS_NUMBERS: [&str; 4] = ["113", "116 117", "116 123", "22 40 00 40"];

#[actix_web::test]
async fn phq9_all_highest_is_27_severe_with_the_crisis_box_first() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let form = c.get("/app/questionnaires/phq9").await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("0 av 9 besvart"));
        assert!(form.body.contains("<progress"));
        assert!(form.body.contains("<fieldset id=\"item-phq9-1\""));
        assert!(form.body.contains("<legend"));

        let result = submit(&c, "phq9", &all("phq9", 9, 3)).await;
        let r = c.get(&result).await;
        assert_eq!(r.status, 200);
        let body = &r.body;
        assert!(body.contains("<strong>27</strong> av 27"), "{body}");
        assert!(body.contains("Alvorlige plager"), "severe band label");
        let main = &body[body.find("<main").expect("main")..];
        let crisis = main.find("class=\"crisis\"").expect("crisis box shown");
        let score = main.find("id=\"score\"").expect("score shown");
        assert!(crisis < score, "the crisis box comes before the score");
        // Nothing but the crisis box comes before it in <main>.
        let opening = &main[..crisis];
        assert!(!opening.contains("<h1"), "crisis box is first in main");
        for n in CRISIS_NUMBERS {
            let at = main.find(n).unwrap_or_else(|| panic!("{n} is shown"));
            assert!(at < score, "{n} appears before the score");
        }
        assert!(main.contains("Ingen leser svarene dine fortløpende"));

        // In English too.
        c.get("/lang/en?next=/app").await;
        let en = c.get(&result).await;
        assert!(en.body.contains("Nobody reads your answers in real time"));
        assert!(en.body.contains("Severe symptoms"));
    }
}

#[actix_web::test]
async fn phq9_all_lowest_is_0_without_a_crisis_box() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let result = submit(&c, "phq9", &all("phq9", 9, 0)).await;
        let r = c.get(&result).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("<strong>0</strong> av 27"));
        assert!(r.body.contains("Ingen eller svært få tegn på depresjon"));
        assert!(!r.body.contains("class=\"crisis\""));
        assert!(!r.body.contains("22 40 00 40"));
        assert!(r.body.contains("første gang"), "no previous measure yet");
    }
}

#[actix_web::test]
async fn item_9_alone_raises_the_flag_and_it_is_stored() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, code) = logged_in(&app, Some("angst")).await;
        let mut answers = all("phq9", 9, 0);
        answers[8].1 = "1".into();
        let result = submit(&c, "phq9", &answers).await;
        let r = c.get(&result).await;
        assert!(r.body.contains("class=\"crisis\""));
        assert!(r.body.contains("<strong>1</strong> av 27"));
        let hash = app.state.pepper.hash(&code);
        let rows = app
            .state
            .store
            .run(move |conn| {
                let account = AccountRow::find_by_code_hash(conn, &hash)?.expect("account");
                mestring_store::responses::ResponseRow::list_for_account(conn, &account.id)
            })
            .await
            .expect("responses");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].has_flag("suicidal-ideation"));
        assert_eq!((rows[0].total, rows[0].band_id.as_str()), (1, "minimal"));
    }
}

#[actix_web::test]
async fn missing_answers_are_named_and_given_answers_kept() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let answers = phq9(&[(1, 2), (2, 1), (4, 0), (5, 3), (6, 1), (7, 2), (8, 0)]);
        let r = post_owned(&c, "/app/questionnaires/phq9", &answers).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("class=\"error-summary\""));
        assert!(r.body.contains("href=\"#item-phq9-3\""));
        assert!(r.body.contains("href=\"#item-phq9-9\""));
        assert!(!r.body.contains("href=\"#item-phq9-1\""));
        assert!(
            !r.body.contains("href=\"#item-phq9-10\""),
            "item 10 is optional"
        );
        assert!(r.body.contains("7 av 9 besvart"));
        assert!(
            r.body
                .contains("id=\"phq9-1-2\" name=\"phq9-1\" value=\"2\" checked")
        );
        assert!(
            r.body
                .contains("id=\"phq9-5-3\" name=\"phq9-5\" value=\"3\" checked")
        );
        assert!(
            !r.body
                .contains("id=\"phq9-1-1\" name=\"phq9-1\" value=\"1\" checked")
        );
        assert!(r.body.contains("<fieldset id=\"item-phq9-3\" role=\"radiogroup\" aria-labelledby=\"item-phq9-3-legend\" aria-invalid=\"true\""));
        // A value the item does not offer is an error for that item only.
        let mut bad = all("phq9", 9, 1);
        bad[0].1 = "7".into();
        let r = post_owned(&c, "/app/questionnaires/phq9", &bad).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("href=\"#item-phq9-1\""));
        assert!(
            r.body
                .contains("id=\"phq9-2-1\" name=\"phq9-2\" value=\"1\" checked")
        );
        // Nothing was stored.
        let results = c.get("/app/results").await;
        assert!(!results.body.contains("<svg"));
    }
}

/// Answers the two opening questionnaires of `angst` as program steps.
async fn do_opening_steps(c: &Client) {
    let r = c.get("/app/steps/start-gad7").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location(),
        Some("/app/questionnaires/gad7?step=start-gad7")
    );
    let form = c.get("/app/questionnaires/gad7?step=start-gad7").await;
    assert!(form.body.contains("name=\"step\" value=\"start-gad7\""));
    let mut fields = all("gad7", 7, 1);
    fields.push(("step".into(), "start-gad7".into()));
    submit(c, "gad7", &fields).await;
    let mut fields = all("phq9", 9, 1);
    fields.push(("step".into(), "start-phq9".into()));
    submit(c, "phq9", &fields).await;
}

#[actix_web::test]
async fn after_logging_out_mid_module_the_user_is_offered_to_continue() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, code) = logged_in(&app, Some("angst")).await;
        let home = c.get("/app").await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("Din oversikt"));
        assert!(home.body.contains("href=\"/app/steps/start-gad7\""));
        assert!(home.body.contains("Begynn"));

        do_opening_steps(&c).await;
        let page = c.get("/app/steps/hva-er-angst").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Ferdig"));
        let done = c.post("/app/steps/hva-er-angst/done", &[]).await;
        assert_eq!(done.status, 303);
        assert_eq!(done.location(), Some("/app/steps/mitt-angstbilde"));
        let exercise = c.get("/app/steps/mitt-angstbilde").await;
        assert_eq!(exercise.status, 200);
        assert!(
            exercise
                .body
                .contains("/app/registrations/daily-checkin/new?step=mitt-angstbilde")
        );

        let out = c.post("/logout", &[]).await;
        assert_eq!(out.status, 303);
        assert_eq!(c.get("/app").await.status, 303);

        app.clock.advance(Duration::days(2));
        let again = app.client();
        assert_eq!(again.login(&code.reveal()).await.status, 303);
        let home = again.get("/app").await;
        assert!(home.body.contains("Fortsett der du slapp"), "{}", home.body);
        assert!(home.body.contains("href=\"/app/steps/mitt-angstbilde\""));
        assert!(home.body.contains("3 av 17 steg fullført"), "{}", home.body);

        // Login days are recorded coarsely, one row per Oslo date.
        let hash = app.state.pepper.hash(&code);
        let days = app
            .state
            .store
            .run(move |conn| {
                let account = AccountRow::find_by_code_hash(conn, &hash)?.expect("account");
                ActivityDayRow::list_for_account(conn, &account.id)
            })
            .await
            .expect("activity");
        assert_eq!(days.len(), 2);
        assert!(days.iter().all(|d| d.logins == 1 && d.minutes % 5 == 0));
    }
}

#[actix_web::test]
async fn locked_steps_get_a_friendly_page_and_cannot_be_completed() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let r = c.get("/app/steps/bekymringssirkelen").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("ikke åpnet ennå"));
        assert!(r.body.contains("href=\"/app/steps/start-gad7\""));
        let r = c.post("/app/steps/bekymringssirkelen/done", &[]).await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/app/steps/bekymringssirkelen"));
        // A questionnaire step out of order is locked too.
        let r = c.get("/app/questionnaires/phq9?step=slutt-phq9").await;
        assert_eq!(r.location(), Some("/app/steps/slutt-phq9"));
        let program = c.get("/app/program").await;
        assert!(program.body.contains("0 av 17 steg fullført"));
        assert!(program.body.contains("låst"));
        assert_eq!(c.get("/app/steps/no-such-step").await.status, 404);
    }
}

#[actix_web::test]
async fn registrations_can_be_filled_in_listed_and_seen_over_time() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let form = c.get("/app/registrations/daily-checkin/new").await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("name=\"csrf_token\""));
        // Missing required answers: named, and what was given is kept.
        let r = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[("mood", "7"), ("note", "en fin tur")],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("class=\"error-summary\""));
        assert!(r.body.contains("href=\"#field-worry\""));
        assert!(
            r.body
                .contains("id=\"mood-7\" name=\"mood\" value=\"7\" checked")
        );
        assert!(r.body.contains("en fin tur</textarea>"));

        let r = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "7"),
                    ("worry", "3"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                    ("note", ""),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.location(), Some("/app/registrations?saved=true"));
        // Within the session's idle limit.
        app.clock.advance(Duration::minutes(20));
        let r = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "4"),
                    ("worry", "6"),
                    ("sleep", "poor"),
                    ("activity", "little"),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        let list = c.get("/app/registrations?saved=true").await;
        assert_eq!(list.status, 200);
        assert!(list.body.contains("Registreringen er lagret"));
        assert!(list.body.contains("<td>Greit</td>"));
        assert!(list.body.contains("<td>Dårlig</td>"));
        assert!(list.body.contains("<svg"), "scales are charted over time");
        assert!(list.body.contains("role=\"img\""));
        assert!(!list.body.contains("style="));
        assert_eq!(c.get("/app/registrations/nope/new").await.status, 404);
    }
}

#[actix_web::test]
async fn results_over_time_show_a_chart_a_table_and_the_change() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, code) = logged_in(&app, Some("angst")).await;
        let home = c.get("/app").await;
        assert!(
            home.body.contains("href=\"/app/questionnaires/phq9\""),
            "due at start"
        );
        submit(&c, "gad7", &all("gad7", 7, 2)).await;
        submit(&c, "phq9", &all("phq9", 9, 2)).await;
        let home = c.get("/app").await;
        assert!(
            home.body.contains("Ingen spørreskjema venter"),
            "{}",
            home.body
        );
        assert!(home.body.contains("18 av 27"), "latest result on /app");

        app.clock.advance(Duration::days(14));
        // The session has long expired; log in again.
        assert_eq!(c.login(&code.reveal()).await.status, 303);
        let home = c.get("/app").await;
        assert!(
            home.body.contains("href=\"/app/questionnaires/phq9\""),
            "due again after 14 days"
        );
        let second = submit(&c, "phq9", &all("phq9", 9, 1)).await;
        let r = c.get(&second).await;
        assert!(
            r.body.contains("tydelig bedring"),
            "18 → 9 is a reliable improvement"
        );
        assert!(
            r.body.contains("under grensen"),
            "recovered: 18 → 9 crosses caseness"
        );

        let results = c.get("/app/results").await;
        assert_eq!(results.status, 200);
        assert!(results.body.contains("<svg"));
        assert!(results.body.contains("role=\"img\""));
        assert!(
            results
                .body
                .contains("<title id=\"chart-phq9-title\">PHQ-9 over tid</title>")
        );
        assert!(results.body.contains("<table"));
        assert!(results.body.contains("<td>18</td>"));
        assert!(results.body.contains("<td>9</td>"));
        assert!(!results.body.contains("style="));
    }
}

#[actix_web::test]
async fn another_account_cannot_open_my_result() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (mine, _) = logged_in(&app, Some("angst")).await;
        let result = submit(&mine, "phq9", &all("phq9", 9, 0)).await;
        assert_eq!(mine.get(&result).await.status, 200);
        let (other, _) = logged_in(&app, Some("angst")).await;
        assert_eq!(other.get(&result).await.status, 404);
        assert_eq!(other.get("/app/results/not-an-id").await.status, 404);
        // Logged out: to the login page.
        let anon = app.client();
        let r = anon.get(&result).await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/login"));
    }
}

#[actix_web::test]
async fn an_account_without_a_program_can_choose_one() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, None).await;
        let home = c.get("/app").await;
        assert!(home.body.contains("action=\"/app/program/choose\""));
        assert!(home.body.contains("value=\"nedstemthet\""));
        let r = c.post("/app/program/choose", &[("program", "nope")]).await;
        assert_eq!(r.location(), Some("/app?choose_error=true"));
        assert!(
            c.get("/app?choose_error=true")
                .await
                .body
                .contains("Velg ett av programmene")
        );
        let r = c
            .post("/app/program/choose", &[("program", "nedstemthet")])
            .await;
        assert_eq!(r.status, 303);
        let home = c.get("/app").await;
        assert!(!home.body.contains("action=\"/app/program/choose\""));
        assert!(home.body.contains("Begynn"));
        // The choice is made once; a code issued for a program keeps it.
        c.post("/app/program/choose", &[("program", "angst")]).await;
        let program = c.get("/app/program").await;
        assert!(!program.body.contains("Mestring av angst og bekymring"));
    }
}

#[actix_web::test]
async fn feedback_is_stored_and_listed_for_the_operator() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (c, _) = logged_in(&app, Some("angst")).await;
        let form = c.get("/app/feedback/suggest").await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("Foreslå endringer"));
        let r = c
            .post(
                "/app/feedback/suggest",
                &[("topic", "correction"), ("body", "")],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("href=\"#body\""));
        assert!(r.body.contains("value=\"correction\" checked"));
        let r = c
            .post(
                "/app/feedback/suggest",
                &[
                    ("topic", "correction"),
                    ("body", "Sjekk inn 3. mars: søvn skal være «godt»\nTakk"),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/app/feedback/thanks"));
        assert_eq!(c.get("/app/feedback/thanks").await.status, 200);
        let eval = c.get("/app/feedback/evaluation").await;
        assert!(eval.body.contains("Evalueringsskjema"));
        let r = c
            .post(
                "/app/feedback/evaluation",
                &[("helpful", "9"), ("ease", "5")],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("href=\"#field-helpful\""));
        let r = c
            .post(
                "/app/feedback/evaluation",
                &[("helpful", "4"), ("ease", "5"), ("body", "")],
            )
            .await;
        assert_eq!(r.status, 303);

        let out = run_cli(&app.db, &["feedback", "list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines.iter().any(|l| l.contains("\tsuggestion\t")
            && l.contains("\tcorrection\t")
            && l.contains("søvn skal være «godt»\\nTakk")));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\tevaluation\t") && l.contains("helpful=4\tease=5"))
        );
    }
}
