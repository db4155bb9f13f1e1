//! Nynorsk: the third language. The browser's `Accept-Language` decides
//! the first visit, a choice from the switch is remembered over it, and
//! every page of a user's journey renders in nn with no message key left
//! untranslated.

use mestring_domain::content::Lang;
use mestring_web::i18n::Catalog;

use crate::helpers::{TestApp, backends};

/// The page is nynorsk and shows no message key in place of a text (a
/// missing key renders as the key itself).
fn assert_nynorsk(path: &str, body: &str) {
    assert!(body.contains("<html lang=\"nn\">"), "{path} is not in nn");
    let nb = Catalog::get(Lang::Nb);
    let raw: Vec<&str> = nb
        .keys()
        .filter(|k| k.contains('.') && body.contains(&format!(">{k}<")))
        .collect();
    assert!(raw.is_empty(), "{path} shows raw keys {raw:?}");
}

#[actix_web::test]
async fn accept_language_decides_the_first_visit_and_the_switch_wins() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let nn = c
            .get_with("/login", &[("Accept-Language", "nn-NO,nn;q=0.9,en;q=0.5")])
            .await;
        assert_nynorsk("/login", &nn.body);
        assert!(nn.body.contains("Du loggar inn med koden du har fått"));
        let en = c
            .get_with("/login", &[("Accept-Language", "de-DE,en;q=0.8")])
            .await;
        assert!(en.body.contains("<html lang=\"en\">"));
        let none = c.get_with("/login", &[("Accept-Language", "fr")]).await;
        assert!(
            none.body.contains("<html lang=\"nb\">"),
            "bokmål by default"
        );
        // The switch offers the other two languages, named in themselves.
        assert!(nn.body.contains("hreflang=\"nb\">Bokmål</a>"));
        assert!(nn.body.contains("hreflang=\"en\">English</a>"));
        assert!(!nn.body.contains("hreflang=\"nn\""));
        // A choice is remembered over the browser's languages.
        assert_eq!(c.get("/lang/en?next=/login").await.status, 303);
        let chosen = c.get_with("/login", &[("Accept-Language", "nn")]).await;
        assert!(chosen.body.contains("<html lang=\"en\">"));
    }
}

#[actix_web::test]
async fn a_users_journey_renders_in_nynorsk() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (_, code) = app.org_with_code("Klinikk Nynorsk", "nedstemthet").await;
        let c = app.client();
        assert_eq!(c.get("/lang/nn?next=/login").await.status, 303);
        assert_nynorsk("/login", &c.get("/login").await.body);
        assert_eq!(c.login(&code).await.status, 303);
        assert_nynorsk("/consent", &c.get("/consent").await.body);
        assert_eq!(c.post("/consent", &[("choice", "yes")]).await.status, 303);
        let result = c.answer_all("phq9", 9, "1").await;
        c.answer_all("gad7", 7, "1").await;
        let program = app.state.content.program("nedstemthet").expect("program");
        let first_page = program
            .steps()
            .find(|(_, s)| matches!(s.kind, mestring_domain::content::StepKind::Page { .. }))
            .expect("a page step")
            .1
            .id
            .to_string();
        let pages = [
            "/app".to_owned(),
            "/app/program".to_owned(),
            format!("/app/steps/{first_page}"),
            "/app/questionnaires/phq9".to_owned(),
            result,
            "/app/results".to_owned(),
            "/app/registrations".to_owned(),
            "/app/registrations/daily-checkin/new".to_owned(),
            "/app/registrations/thought-record/new".to_owned(),
            "/app/registrations/activity-log/new".to_owned(),
            "/app/registrations/exposure-log/new".to_owned(),
            "/app/feedback/suggest".to_owned(),
            "/app/feedback/evaluation".to_owned(),
            "/settings".to_owned(),
            "/settings/export".to_owned(),
            "/settings/reminders".to_owned(),
            "/settings/delete".to_owned(),
            "/privacy".to_owned(),
        ];
        for path in &pages {
            let r = c.get(path).await;
            assert_eq!(r.status, 200, "{path}");
            assert_nynorsk(path, &r.body);
        }
        // Content in nynorsk: the program's own title, the questionnaire.
        let program_page = c.get("/app/program").await.body;
        assert!(program_page.contains(program.title.get(Lang::Nn)));
        assert_ne!(program.title.get(Lang::Nn), program.title.get(Lang::Nb));
        assert!(
            c.get("/app/questionnaires/phq9")
                .await
                .body
                .contains("dei siste 2 vekene")
        );
        // The privacy page lists nynorsk among the stored language choices.
        assert!(c.get("/privacy").await.body.contains("nb, nn eller en"));
    }
}
