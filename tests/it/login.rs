//! Logging in with an access code; sessions; CSRF.

use chrono::Duration;

use crate::helpers::input_value;
use crate::helpers::{TestApp, backends};

#[actix_web::test]
async fn the_login_form_has_a_code_field_and_a_csrf_token() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        let r = c.get("/login").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("name=\"code\""));
        let token = input_value(&r.body, "csrf_token").expect("csrf input");
        assert_eq!(Some(token), c.cookie("mestring_csrf"));
    }
}

#[actix_web::test]
async fn a_valid_code_logs_in_and_reaches_the_app() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        let r = c.login(&code).await;
        assert_eq!(r.status, 303);
        // An organisation's code: the first stop is the sharing question.
        assert_eq!(r.location(), Some("/consent"));
        let set = r
            .headers_named("set-cookie")
            .into_iter()
            .find(|v| v.starts_with("mestring_session="))
            .expect("session cookie");
        assert!(set.contains("HttpOnly"));
        assert!(set.contains("SameSite=Lax"));
        assert!(!set.contains("Secure"), "plain http base URL");
        let home = c.get("/app").await;
        assert_eq!(home.status, 200);
        assert!(
            home.header("cache-control")
                .unwrap_or_default()
                .contains("no-store")
        );
        assert!(home.body.contains("Din oversikt"));
    }
}

#[actix_web::test]
async fn typing_variants_of_a_code_are_forgiven() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let typed = code
            .replace('-', " ")
            .to_lowercase()
            .replace('0', "o")
            .replace('1', "l");
        let r = app.client().login(&format!("  {typed} ")).await;
        assert_eq!(r.status, 303, "body: {}", r.body);
    }
}

#[actix_web::test]
async fn unknown_codes_get_one_generic_message_and_no_session() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = app.client();
        // A well-formed code (valid check character) that was never issued.
        let stranger = mestring_domain::access_code::AccessCode::generate().reveal();
        let r = c.login(&stranger).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Koden virker ikke"));
        assert!(c.cookie("mestring_session").is_none());
        assert_eq!(c.get("/app").await.status, 303);
    }
}

#[actix_web::test]
async fn a_typo_is_caught_by_the_check_character() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let mut chars: Vec<char> = code.chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        let r = app.client().login(&typo).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Sjekk koden du skrev inn"));
        // What was typed is kept in the field.
        assert!(r.body.contains(&typo));
        let short = app.client().login("ABCD-EFGH").await;
        assert!(short.body.contains("16 tegn"));
    }
}

#[actix_web::test]
async fn posts_without_the_csrf_token_or_from_other_sites_are_refused() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        c.get("/login").await;
        let missing = c.post_raw("/login", &[("code", &code)], &[]).await;
        assert_eq!(missing.status, 403);
        let token = c.cookie("mestring_csrf").expect("cookie");
        let cross = c
            .post_raw(
                "/login",
                &[("code", &code), ("csrf_token", &token)],
                &[("Sec-Fetch-Site", "cross-site")],
            )
            .await;
        assert_eq!(cross.status, 403);
        let wrong = c
            .post_raw(
                "/login",
                &[("code", &code), ("csrf_token", &"0".repeat(64))],
                &[],
            )
            .await;
        assert_eq!(wrong.status, 403);
        assert!(c.cookie("mestring_session").is_none());
        // The same form with the right token works.
        assert_eq!(c.login(&code).await.status, 303);
    }
}

#[actix_web::test]
async fn logout_ends_the_session_for_good() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        c.login(&code).await;
        let old = c.cookie("mestring_session").expect("session");
        let r = c.post("/logout", &[]).await;
        assert_eq!(r.status, 303);
        assert!(c.cookie("mestring_session").is_none());
        assert_eq!(c.get("/app").await.status, 303);
        // Replaying the old cookie does not work either.
        c.set_cookie("mestring_session", &old);
        assert_eq!(c.get("/app").await.status, 303);
    }
}

#[actix_web::test]
async fn every_login_gets_a_new_token() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let a = app.client();
        a.login(&code).await;
        let first = a.cookie("mestring_session").expect("first");
        a.login(&code).await;
        let second = a.cookie("mestring_session").expect("second");
        assert_ne!(first, second);
        assert_eq!(a.get("/app").await.status, 200);
    }
}

#[actix_web::test]
async fn sessions_end_after_30_idle_minutes() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        c.login(&code).await;
        app.clock.advance(Duration::minutes(29));
        assert_eq!(c.get("/app").await.status, 200);
        app.clock.advance(Duration::minutes(29));
        assert_eq!(
            c.get("/app").await.status,
            200,
            "activity resets the idle timer"
        );
        assert_eq!(c.get("/app/results").await.status, 200);
        app.clock.advance(Duration::minutes(31));
        // Both pages that resume the session in their own trip to the
        // database (`PendingUserSession`) end it as every other page does.
        let r = c.get("/app/results").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/login"));
        let r = c.get("/app").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/login"));
    }
}

#[actix_web::test]
async fn sessions_end_after_12_hours_even_when_active() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        c.login(&code).await;
        for _ in 0..35 {
            app.clock.advance(Duration::minutes(20));
            assert_eq!(c.get("/app").await.status, 200);
        }
        // 11 h 40 min so far.
        app.clock.advance(Duration::minutes(21));
        assert_eq!(c.get("/app").await.status, 303);
    }
}

#[actix_web::test]
async fn a_code_stops_working_five_years_after_its_last_use() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        assert_eq!(app.client().login(&code).await.status, 303);
        app.clock.advance(Duration::days(365 * 5 - 2));
        assert_eq!(
            app.client().login(&code).await.status,
            303,
            "a login renews the five years"
        );
        app.clock.advance(Duration::days(365 * 5 + 10));
        let r = app.client().login(&code).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Koden virker ikke"));
    }
}

#[actix_web::test]
async fn the_daily_job_deactivates_unused_codes_after_five_years() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let codes = app.issue_codes(2, None).await;
        app.clock.advance(Duration::days(365 * 3));
        assert_eq!(app.client().login(&codes[1].reveal()).await.status, 303);
        app.clock.advance(Duration::days(365 * 2 + 10));
        mestring_server::jobs::run_once(&app.state, 30, &app.db.dir.path().join("data"))
            .await
            .expect("job runs");
        let hash0 = app.state.pepper.hash(&codes[0]);
        let hash1 = app.state.pepper.hash(&codes[1]);
        let (a0, a1) = app
            .state
            .store
            .run(move |conn| {
                use mestring_store::accounts::AccountRow;
                Ok((
                    AccountRow::find_by_code_hash(conn, &hash0)?.expect("row"),
                    AccountRow::find_by_code_hash(conn, &hash1)?.expect("row"),
                ))
            })
            .await
            .expect("read");
        assert!(a0.deactivated_at.is_some(), "unused for five years");
        assert!(a1.deactivated_at.is_none(), "used two years ago");
    }
}

/// Audit finding 4: a login whose lookup found the account by its code
/// just before the code was replaced (`POST /settings/code/confirm`, which
/// also ends every other session) starts no session. The replacement is
/// the confirm's own transaction, held open while the login looks the
/// code up (the old code, still committed) and then waits to write.
#[actix_web::test]
async fn a_login_racing_a_code_replacement_starts_no_session() {
    use mestring_domain::access_code::AccessCode;
    use mestring_store::accounts::AccountRow;
    use mestring_store::sessions::SessionRow;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let account = app.account_of(&code).await;
        let c = app.client();
        // The CSRF cookie first, so the login is one request.
        c.get("/login").await;
        let new_hash = app.state.pepper.hash(&AccessCode::generate());
        let (under_way, started) = tokio::sync::oneshot::channel();
        let held = account.clone();
        let store = app.state.store.clone();
        let replacement = actix_web::rt::spawn(async move {
            store
                .transaction(move |conn| {
                    AccountRow::replace_code(conn, &held, &new_hash)?;
                    SessionRow::delete_for_account(conn, &held, None)?;
                    let _ = under_way.send(());
                    // Uncommitted for long enough that the login looks up the old
                    // code and then waits for this transaction.
                    std::thread::sleep(std::time::Duration::from_millis(1500));
                    Ok(())
                })
                .await
        });
        started.await.expect("replacement under way");
        let r = c.login(&code).await;
        replacement.await.expect("joined").expect("code replaced");
        assert_eq!(r.status, 422, "the replaced code logged in ({backend:?})");
        assert!(c.cookie("mestring_session").is_none());
        // Deleting the account's sessions counts them.
        let sessions = app
            .state
            .store
            .run(move |conn| SessionRow::delete_for_account(conn, &account, None))
            .await
            .expect("sessions");
        assert_eq!(sessions, 0, "no session outlives the replacement");
    }
}

/// The write that records a code login refuses a code replaced or an
/// account deactivated after the lookup, and changes nothing then.
#[actix_web::test]
async fn recording_a_code_login_refuses_a_replaced_code() {
    use mestring_domain::access_code::AccessCode;
    use mestring_store::accounts::AccountRow;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = AccessCode::parse(&app.issue_code().await).expect("code");
        let old = app.state.pepper.hash(&code);
        let new = app.state.pepper.hash(&AccessCode::generate());
        let now = mestring_domain::clock::Clock::now(app.clock.as_ref());
        let (stale, replaced, current, deactivated, row) = app
            .state
            .store
            .run(move |conn| {
                let row = AccountRow::find_by_code_hash(conn, &old)?.expect("account");
                let id = row.id.clone();
                AccountRow::replace_code(conn, &id, &new)?;
                let stale = AccountRow::record_code_login(conn, &id, &old, now)?;
                let replaced = AccountRow::find(conn, &id)?;
                let current = AccountRow::record_code_login(conn, &id, &new, now)?;
                AccountRow::deactivate(conn, &id, now)?;
                let deactivated = AccountRow::record_code_login(conn, &id, &new, now)?;
                Ok((stale, replaced, current, deactivated, row))
            })
            .await
            .expect("store");
        assert!(!stale, "the old code is refused");
        assert_eq!(replaced.last_login_at, row.last_login_at, "unchanged");
        assert!(current, "the current code is recorded");
        assert!(!deactivated, "a deactivated account is refused");
    }
}
