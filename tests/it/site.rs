//! Pages, headers and health endpoints.

use crate::e2e;
use crate::helpers::Resp;

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

e2e! {
    async fn every_response_carries_the_security_headers(app) {
        let c = app.client();
        for path in ["/login", "/privacy", "/healthz", "/no-such-page", "/app", "/static/style.css"] {
            let r = c.get(path).await;
            assert_security_headers(&r);
        }
        let r = c.post_raw("/login", &[("code", "x")], &[]).await;
        assert_security_headers(&r);
    }
}

e2e! {
    async fn health_and_readiness_answer(app) {
        let c = app.client();
        let h = c.get("/healthz").await;
        assert_eq!(h.status, 200);
        let r = c.get("/readyz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "ready");
    }
}

e2e! {
    async fn unknown_pages_get_a_404_page_with_the_layout(app) {
        let r = app.client().get("/nope/nothing").await;
        assert_eq!(r.status, 404);
        assert!(r.body.contains("Siden finnes ikke"));
        assert!(r.body.contains("href=\"/privacy\""));
    }
}

e2e! {
    async fn pages_have_lang_skip_link_and_privacy_link(app) {
        let r = app.client().get("/login").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("<html lang=\"nb\">"));
        assert!(r.body.contains("href=\"#main\""));
        assert!(r.body.contains("href=\"/privacy\""));
        assert!(!r.body.contains("<script"), "pages need no JavaScript");
        assert!(!r.body.contains("http://") && !r.body.contains("https://"), "no external resources");
    }
}

e2e! {
    async fn english_can_be_chosen_and_is_remembered(app) {
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
        assert!(c.get("/login").await.body.contains("Logg inn med koden din"));
    }
}

e2e! {
    async fn language_switch_never_redirects_off_site(app) {
        let c = app.client();
        for next in ["//evil.example", "https://evil.example", "/\\evil"] {
            let r = c.get(&format!("/lang/en?next={next}")).await;
            assert_eq!(r.location(), Some("/"), "next={next}");
        }
        assert_eq!(c.get("/lang/xx").await.status, 404);
    }
}

e2e! {
    async fn the_privacy_page_is_public_and_plain(app) {
        let r = app.client().get("/privacy").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("HMAC-SHA256"));
    }
}
