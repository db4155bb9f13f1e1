//! Rectification by the user: voiding a questionnaire answer given by
//! mistake. A voided answer leaves the results, the chart, the change
//! comparison and the clinician's view, which shows it as voided with dates
//! only; voiding cannot be undone and only works on one's own answers.

use chrono::Duration;
use mestring_domain::clock::Clock;
use mestring_store::staff::StaffRole;

use crate::helpers::{Client, TestApp, backends};

async fn answer_phq9(c: &Client, value: &str) -> String {
    let fields: Vec<(String, String)> = (1..=9)
        .map(|i| (format!("phq9-{i}"), value.to_owned()))
        .collect();
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = c.post("/app/questionnaires/phq9", &borrowed).await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location()
        .expect("to the result")
        .trim_start_matches("/app/results/")
        .to_owned()
}

/// Rows of the PHQ-9 results table (each links to one result).
fn result_rows(html: &str) -> usize {
    html.matches("<tr><td><a href=\"/app/results/").count()
}

#[actix_web::test]
async fn a_voided_answer_leaves_results_chart_and_the_clinician_view() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Retting").await;
        let code = app
            .issue_codes_for(Some(&org), Some("nedstemthet"), 1)
            .await
            .remove(0)
            .reveal();
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        assert_eq!(c.post("/consent", &[("choice", "yes")]).await.status, 303);
        let kept = answer_phq9(&c, "1").await;
        // Within the session idle limit, so the same session answers again.
        app.clock.advance(Duration::minutes(10));
        let mistake = answer_phq9(&c, "3").await;
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
        let next = answer_phq9(&c, "2").await;
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
