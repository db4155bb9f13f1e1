//! Rectification by the user: voiding a questionnaire answer given by
//! mistake. A voided answer leaves the results, the chart, the change
//! comparison and the clinician's view, which shows it as voided with dates
//! only; voiding cannot be undone and only works on one's own answers.

use chrono::Duration;
use mestring_domain::clock::Clock;
use mestring_store::staff::StaffRole;

use crate::helpers::{TestApp, backends};

/// Rows of the PHQ-9 results table (each links to one result).
fn result_rows(html: &str) -> usize {
    html.matches("<tr><td><a href=\"/app/results/").count()
}

#[actix_web::test]
async fn a_voided_answer_leaves_results_chart_and_the_clinician_view() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (org, code) = app.org_with_code("Klinikk Retting", "nedstemthet").await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        assert_eq!(c.post("/consent", &[("choice", "yes")]).await.status, 303);
        let kept = c
            .answer_all("phq9", 9, "1")
            .await
            .trim_start_matches("/app/results/")
            .to_owned();
        // Within the session idle limit, so the same session answers again.
        app.clock.advance(Duration::minutes(10));
        let mistake = c
            .answer_all("phq9", 9, "3")
            .await
            .trim_start_matches("/app/results/")
            .to_owned();
        let before = c.get("/app/results").await.body;
        assert_eq!(result_rows(&before), 2, "{before}");

        // The result offers voiding; the confirmation says what it means.
        let result = c.get(&format!("/app/results/{mistake}")).await.body;
        assert!(result.contains(&format!("/app/results/{mistake}/void")));
        let confirm = c.get(&format!("/app/results/{mistake}/void")).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("Du kan ikke angre"));
        let done = c.post(&format!("/app/results/{mistake}/void"), &[]).await;
        assert_eq!(done.location(), Some("/app/results?voided=1"));

        let results = c.get("/app/results?voided=1").await.body;
        assert!(results.contains("Svaret er annullert"));
        assert_eq!(result_rows(&results), 1, "only the kept answer counts");
        assert!(results.contains("<circle"), "the chart has the kept point");
        assert_eq!(results.matches("<circle").count(), 1, "one point left");
        assert!(results.contains("Annullerte svar"));
        let today = mestring_web::fmt::date(app.clock.now());
        assert!(results.contains(&format!("annullert {today}")));

        // The voided result says so and offers nothing more; voiding again
        // changes nothing.
        let voided = c.get(&format!("/app/results/{mistake}")).await.body;
        assert!(voided.contains(&format!("Dette svaret ble annullert {today}")));
        assert!(!voided.contains(&format!("/app/results/{mistake}/void\"")));
        let again = c.post(&format!("/app/results/{mistake}/void"), &[]).await;
        assert_eq!(again.status, 303);
        // A new answer is compared with the kept one (9), not the voided
        // one (27).
        app.clock.advance(Duration::minutes(10));
        let next = c
            .answer_all("phq9", 9, "2")
            .await
            .trim_start_matches("/app/results/")
            .to_owned();
        let next_page = c.get(&format!("/app/results/{next}")).await.body;
        assert!(next_page.contains(": 9. "), "{next_page}");
        assert!(!next_page.contains(": 27. "));

        // Someone else cannot void it, nor see it.
        let other_code = app.issue_code().await;
        let other = app.client();
        assert_eq!(other.login(&other_code).await.status, 303);
        assert_eq!(
            other
                .post(&format!("/app/results/{kept}/void"), &[])
                .await
                .status,
            404
        );
        assert_eq!(result_rows(&c.get("/app/results").await.body), 2);

        // The clinician sees the kept answer only, and the voided one as
        // voided with dates.
        let staff = app
            .create_staff(&org, "behandler@retting.no", StaffRole::Clinician)
            .await;
        let s = app.client();
        assert_eq!(
            s.staff_login(&staff, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        let account = app.account_of(&code).await;
        let page = s.get(&format!("/dashboard/users/{account}")).await.body;
        assert!(
            page.contains("<td>9</td>") && page.contains("<td>18</td>"),
            "{page}"
        );
        assert!(
            !page.contains("<td>27</td>"),
            "the voided total is not shown"
        );
        assert!(page.contains(&format!("PHQ-9: besvart {today}, annullert {today}")));

        // The export keeps it, marked as voided.
        let export = c.get("/settings/export.json").await.body;
        assert!(export.contains("\"voided_at\""));
        assert_eq!(export.matches("\"voided_at\": null").count(), 2, "{export}");
    }
}

/// A user deletes a registration they made: it leaves their list and, on
/// SQLite, no byte of what they wrote is left in the database file or its
/// WAL. Only their own entries.
#[actix_web::test]
async fn a_deleted_registration_is_gone_from_the_list_and_the_files() {
    use crate::helpers::contains_bytes;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        let marker = format!("RETTING-{}", mestring_domain::id::Id::generate());
        let saved = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "7"),
                    ("worry", "3"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                    ("note", &marker),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let list = c.get("/app/registrations").await.body;
        assert!(list.contains(&marker));
        let href = list
            .split("href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with("/app/registrations/entries/") && h.ends_with("/delete"))
            .expect("a delete link")
            .to_owned();

        // Someone else's session cannot delete it.
        let other = app.client();
        assert_eq!(other.login(&app.issue_code().await).await.status, 303);
        assert_eq!(other.get(&href).await.status, 404);
        assert_eq!(other.post(&href, &[]).await.status, 404);

        let confirm = c.get(&href).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("Den kan ikke hentes tilbake"));
        let done = c.post(&href, &[]).await;
        assert_eq!(done.location(), Some("/app/registrations?deleted=true"));
        let list = c.get("/app/registrations?deleted=true").await.body;
        assert!(list.contains("Registreringen er slettet."));
        assert!(!list.contains(&marker));
        assert_eq!(c.get(&href).await.status, 404, "gone");

        if backend == crate::helpers::Backend::Sqlite {
            for file in app.db.sqlite_files() {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(
                    !contains_bytes(&bytes, marker.as_bytes()),
                    "{} still holds the deleted text",
                    file.display()
                );
            }
        }
    }
}

/// The links in `html` that start with `prefix` and end with `suffix`.
fn links(html: &str, prefix: &str, suffix: &str) -> Vec<String> {
    html.split("href=\"")
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with(prefix) && h.ends_with(suffix))
        .map(str::to_owned)
        .collect()
}

/// A user changes a registration: the form comes back filled in with what
/// was saved, bad input is named and loses nothing, the list shows the new
/// values and when it was changed, and the text changed away is in no byte
/// of the SQLite files. Only their own entries.
#[actix_web::test]
async fn an_edited_registration_replaces_the_old_one_in_the_list_and_the_files() {
    use crate::helpers::contains_bytes;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        assert_eq!(c.login(&app.issue_code().await).await.status, 303);
        let old = format!("GAMMEL-{}", mestring_domain::id::Id::generate());
        let new = format!("NY-{}", mestring_domain::id::Id::generate());
        let saved = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "7"),
                    ("worry", "3"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                    ("note", &old),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let list = c.get("/app/registrations").await.body;
        let edit = links(&list, "/app/registrations/entries/", "/edit");
        assert_eq!(edit.len(), 1, "{list}");
        let edit = edit[0].clone();

        // The form shows what was saved.
        let form = c.get(&edit).await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains(&format!(">{old}</textarea>")));
        assert!(form.body.contains("value=\"7\" checked"));
        assert!(form.body.contains("value=\"ok\" checked"));
        assert!(form.body.contains("det gamle blir slettet for godt"));
        assert!(form.body.contains(&format!("action=\"{edit}\"")));

        // Bad input: named, nothing lost, nothing changed.
        let bad = c
            .post(
                &edit,
                &[
                    ("mood", "99"),
                    ("worry", "2"),
                    ("sleep", "good"),
                    ("note", &new),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("href=\"#field-mood\""));
        assert!(bad.body.contains(&format!(">{new}</textarea>")));
        assert!(c.get("/app/registrations").await.body.contains(&old));

        // Someone else cannot see or change it.
        let other = app.client();
        assert_eq!(other.login(&app.issue_code().await).await.status, 303);
        assert_eq!(other.get(&edit).await.status, 404);
        assert_eq!(
            other
                .post(&edit, &[("mood", "1"), ("note", "x")])
                .await
                .status,
            404
        );

        app.clock.advance(Duration::minutes(5));
        let done = c
            .post(
                &edit,
                &[
                    ("mood", "4"),
                    ("worry", "2"),
                    ("sleep", "good"),
                    ("activity", "much"),
                    ("note", &new),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), Some("/app/registrations?edited=true"));
        let list = c.get("/app/registrations?edited=true").await.body;
        assert!(list.contains("Registreringen er endret."));
        assert!(list.contains(&new));
        assert!(!list.contains(&old));
        let today = mestring_web::fmt::date(app.clock.now());
        assert!(list.contains(&format!("endret {today}")), "{list}");
        assert_eq!(
            links(&list, "/app/registrations/entries/", "/edit").len(),
            1,
            "edited in place, not added"
        );
        // Every changed value replaced the old one.
        let form = c.get(&edit).await.body;
        assert!(form.contains("value=\"4\" checked"));
        assert!(form.contains("value=\"much\" checked"));
        assert!(!form.contains("value=\"some\" checked"));
        assert!(!form.contains("value=\"7\" checked"));

        if backend == crate::helpers::Backend::Sqlite {
            for file in app.db.sqlite_files() {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(
                    !contains_bytes(&bytes, old.as_bytes()),
                    "{} still holds the text changed away",
                    file.display()
                );
            }
        }
    }
}

/// `mestring ARGS` as operator `who`; returns (success, stdout, stderr).
fn operator_cli(app: &TestApp, who: &str, args: &[&str]) -> (bool, String, String) {
    let out = crate::helpers::cli_command(&app.db, args)
        .env("MESTRING_OPERATOR", who)
        .output()
        .expect("mestring runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The reference and status of the one feedback line containing `needle`.
fn feedback_line(app: &TestApp, needle: &str) -> (String, String) {
    let (ok, out, err) = operator_cli(app, "ola", &["feedback", "list"]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in {out}"));
    let mut cols = line.split('\t');
    let reference = cols.next().expect("reference").to_owned();
    let status = cols.next().expect("status").to_owned();
    (reference, status)
}

/// The operator handles a correction request end to end through the CLI:
/// finds the item by its reference, sees the sender's entries with ids
/// (never the code), voids an answer and deletes a registration of that
/// account only, closes another item without a change, and every step
/// leaves an audit row with who, what (ids) and why, and no content.
#[actix_web::test]
async fn the_operator_corrects_the_senders_entries_with_an_audit_trail() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, code) = app.org_with_code("Klinikk Retting", "nedstemthet").await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        let answer = c
            .answer_all("phq9", 9, "3")
            .await
            .trim_start_matches("/app/results/")
            .to_owned();
        let note = format!("NOTAT-{}", mestring_domain::id::Id::generate());
        let saved = c
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "2"),
                    ("worry", "2"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                    ("note", &note),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let request = format!("FEIL-{}", mestring_domain::id::Id::generate());
        let sent = c
            .post(
                "/app/feedback/suggest",
                &[
                    ("topic", "correction"),
                    (
                        "body",
                        &format!("{request}: PHQ-9 og sjekk inn i dag er feil"),
                    ),
                ],
            )
            .await;
        assert_eq!(sent.status, 303);
        assert_eq!(
            c.post(
                "/app/feedback/evaluation",
                &[("helpful", "4"), ("ease", "5"), ("body", "Fint")]
            )
            .await
            .status,
            303
        );
        // Another account with an answer and an entry of its own.
        let other = app.client();
        assert_eq!(other.login(&app.issue_code().await).await.status, 303);
        let foreign_answer = other
            .answer_all("phq9", 9, "1")
            .await
            .trim_start_matches("/app/results/")
            .to_owned();

        let (reference, status) = feedback_line(&app, &request);
        assert_eq!(status, "open");
        assert_eq!(reference.len(), 8);

        // `feedback show`: the item and the sender's entries with ids.
        let (ok, shown, err) = operator_cli(&app, "ola", &["feedback", "show", &reference]);
        assert!(ok, "{err}");
        assert!(shown.contains(&format!("reference\t{reference}")));
        assert!(shown.contains("status\topen"));
        assert!(shown.contains(&request));
        assert!(shown.contains(&format!("answer\t{answer}\t")), "{shown}");
        assert!(shown.contains("\tphq9\ttotal=27\tvalid"));
        assert!(shown.contains(&note));
        assert!(
            !shown.contains(&foreign_answer),
            "only the sender's entries"
        );
        assert!(!shown.contains(&code), "never the code");
        let registration = shown
            .lines()
            .find(|l| l.starts_with("registration\t"))
            .and_then(|l| l.split('\t').nth(1))
            .expect("a registration line")
            .to_owned();

        // Unknown references and other accounts' ids are refused; nothing
        // changes.
        let (ok, _, err) = operator_cli(&app, "ola", &["feedback", "show", "ZZZZZZZZ"]);
        assert!(!ok);
        assert!(err.contains("no feedback item with reference"), "{err}");
        let (ok, _, err) = operator_cli(
            &app,
            "ola",
            &[
                "corrections",
                "void-answer",
                &reference,
                &foreign_answer,
                "--reason",
                "brukerens ønske",
            ],
        );
        assert!(!ok);
        assert!(err.contains("nothing changed"), "{err}");
        assert_eq!(feedback_line(&app, &request).1, "open");
        let (ok, _, err) = operator_cli(
            &app,
            "ola",
            &[
                "corrections",
                "void-answer",
                &reference,
                &answer,
                "--reason",
                " ",
            ],
        );
        assert!(!ok);
        assert!(err.contains("--reason"), "{err}");

        // Voiding the sender's answer.
        let (ok, _, err) = operator_cli(
            &app,
            "ola",
            &[
                "corrections",
                "void-answer",
                &reference,
                &answer,
                "--reason",
                "brukeren svarte ved en feil",
            ],
        );
        assert!(ok, "{err}");
        assert_eq!(feedback_line(&app, &request).1, "corrected");
        let results = c.get("/app/results").await.body;
        assert!(results.contains("Annullerte svar"), "{results}");
        assert_eq!(result_rows(&results), 0, "the voided answer left the table");
        let (ok, _, err) = operator_cli(
            &app,
            "ola",
            &[
                "corrections",
                "void-answer",
                &reference,
                &answer,
                "--reason",
                "igjen",
            ],
        );
        assert!(!ok);
        assert!(err.contains("already voided"), "{err}");
        // The other account's answer is untouched.
        assert!(
            other
                .get("/app/results")
                .await
                .body
                .contains(&format!("/app/results/{foreign_answer}"))
        );

        // Deleting the sender's registration.
        let (ok, _, err) = operator_cli(
            &app,
            "kari",
            &[
                "corrections",
                "delete-registration",
                &reference,
                &registration,
                "--reason",
                "feil dato",
            ],
        );
        assert!(ok, "{err}");
        assert!(!c.get("/app/registrations").await.body.contains(&note));
        let (ok, _, err) = operator_cli(
            &app,
            "kari",
            &[
                "corrections",
                "delete-registration",
                &reference,
                &registration,
                "--reason",
                "feil dato",
            ],
        );
        assert!(!ok, "already gone");
        assert!(err.contains("nothing changed"), "{err}");

        // Closing the evaluation without a change.
        let (evaluation, status) = feedback_line(&app, "helpful=4");
        assert_eq!(status, "open");
        let (ok, _, err) = operator_cli(&app, "kari", &["feedback", "done", &evaluation]);
        assert!(ok, "{err}");
        assert_eq!(feedback_line(&app, "helpful=4").1, "closed");

        // The audit trail: who, what (ids), why; never the content.
        let (ok, audit, err) = operator_cli(&app, "ola", &["audit", "list"]);
        assert!(ok, "{err}");
        let void_row = audit
            .lines()
            .find(|l| l.contains(" correction_void_answer "))
            .unwrap_or_else(|| panic!("{audit}"));
        assert!(void_row.contains("reason=\"brukeren svarte ved en feil\""));
        assert!(void_row.contains("by=ola"));
        assert!(void_row.contains(&format!("subject=feedback={reference} answer={answer}")));
        let delete_row = audit
            .lines()
            .find(|l| l.contains(" correction_delete_registration "))
            .unwrap_or_else(|| panic!("{audit}"));
        assert!(delete_row.contains("by=kari"));
        assert!(delete_row.contains(&format!("registration={registration}")));
        assert!(
            audit
                .lines()
                .any(|l| l.contains(" feedback_done ") && l.contains(&evaluation))
        );
        assert_eq!(
            audit.lines().count(),
            3,
            "refused commands leave no row: {audit}"
        );
        for content in [&request, &note, &code] {
            assert!(!audit.contains(content.as_str()), "audit holds content");
        }
    }
}

/// Handled feedback (and its text) is deleted by the maintenance sweep
/// once the retention period from the policy has passed since it was
/// handled; open items stay.
#[actix_web::test]
async fn handled_feedback_is_deleted_after_the_retention_period() {
    use mestring_domain::policy::retention::HANDLED_FEEDBACK;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        assert_eq!(c.login(&app.issue_code().await).await.status, 303);
        for text in ["BEHANDLET-1", "APEN-1"] {
            let r = c
                .post(
                    "/app/feedback/suggest",
                    &[("topic", "other"), ("body", text)],
                )
                .await;
            assert_eq!(r.status, 303);
        }
        let (handled, _) = feedback_line(&app, "BEHANDLET-1");
        let (ok, _, err) = operator_cli(&app, "ola", &["feedback", "done", &handled]);
        assert!(ok, "{err}");
        let (ok, _, err) = operator_cli(&app, "ola", &["feedback", "done", &handled]);
        assert!(ok && err.contains("already handled"), "{err}");

        let data_dir = app.db.dir.path().join("data");
        app.clock.advance(HANDLED_FEEDBACK - Duration::hours(1));
        mestring_server::jobs::run_once(&app.state, 30, &data_dir)
            .await
            .expect("sweep");
        let (_, out, _) = operator_cli(&app, "ola", &["feedback", "list"]);
        assert!(out.contains("BEHANDLET-1"), "kept within the period");

        app.clock.advance(Duration::hours(2));
        mestring_server::jobs::run_once(&app.state, 30, &data_dir)
            .await
            .expect("sweep");
        let (_, out, _) = operator_cli(&app, "ola", &["feedback", "list"]);
        assert!(!out.contains("BEHANDLET-1"), "deleted after the period");
        assert!(out.contains("APEN-1"), "open items stay: {out}");
        if backend == crate::helpers::Backend::Sqlite {
            for file in app.db.sqlite_files() {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(
                    !crate::helpers::contains_bytes(&bytes, b"BEHANDLET-1"),
                    "{} still holds the deleted feedback",
                    file.display()
                );
            }
        }
    }
}
