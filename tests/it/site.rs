//! Pages, headers and health endpoints.

use crate::helpers::Resp;
use crate::helpers::{TestApp, backends};

fn assert_security_headers(r: &Resp) {
    let csp = r.header("content-security-policy").expect("CSP header");
    for part in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP lacks {part}: {csp}");
    }
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        for path in [
            "/login",
            "/privacy",
            "/healthz",
            "/no-such-page",
            "/app",
            "/static/style.css",
        ] {
            let r = c.get(path).await;
            assert_security_headers(&r);
        }
        let r = c.post_raw("/login", &[("code", "x")], &[]).await;
        assert_security_headers(&r);
    }
}

#[actix_web::test]
async fn health_and_readiness_answer() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let h = c.get("/healthz").await;
        assert_eq!(h.status, 200);
        let r = c.get("/readyz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "ready");
    }
}

#[actix_web::test]
async fn unknown_pages_get_a_404_page_with_the_layout() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let r = app.client().get("/nope/nothing").await;
        assert_eq!(r.status, 404);
        assert!(r.body.contains("Siden finnes ikke"));
        assert!(r.body.contains("href=\"/privacy\""));
    }
}

#[actix_web::test]
async fn pages_have_lang_skip_link_and_privacy_link() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let r = app.client().get("/login").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("<html lang=\"nb\">"));
        assert!(r.body.contains("href=\"#main\""));
        assert!(r.body.contains("href=\"/privacy\""));
        assert!(!r.body.contains("<script"), "pages need no JavaScript");
        assert!(
            !r.body.contains("http://") && !r.body.contains("https://"),
            "no external resources"
        );
    }
}

#[actix_web::test]
async fn english_can_be_chosen_and_is_remembered() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let r = c.get("/lang/en?next=/login").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/login"));
        assert_eq!(c.cookie("mestring_lang").as_deref(), Some("en"));
        let page = c.get("/login").await;
        assert!(page.body.contains("<html lang=\"en\">"));
        assert!(page.body.contains("Log in with your code"));
        // Back to bokmål.
        c.get("/lang/nb?next=/login").await;
        assert!(
            c.get("/login")
                .await
                .body
                .contains("Logg inn med koden din")
        );
    }
}

#[actix_web::test]
async fn language_switch_never_redirects_off_site() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        for next in ["//evil.example", "https://evil.example", "/\\evil"] {
            let r = c.get(&format!("/lang/en?next={next}")).await;
            assert_eq!(r.location(), Some("/"), "next={next}");
        }
        assert_eq!(c.get("/lang/xx").await.status, 404);
    }
}

#[actix_web::test]
async fn the_privacy_page_is_public_and_plain() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let r = app.client().get("/privacy").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("HMAC-SHA256"));
        // Plain: one page of text with a heading, readable without a
        // login, without scripts, and with nothing fetched from elsewhere.
        assert!(r.body.contains("<h1"), "a heading");
        assert!(!r.body.contains("<script"), "no scripts");
        for attr in ["src=\"http", "href=\"http"] {
            assert!(
                !r.body.contains(attr),
                "nothing loaded from elsewhere: {attr}"
            );
        }
        assert!(r.body.contains("<html lang=\"nb\""), "language declared");
    }
}
