//! Staff see everything held about them at /dashboard/profile, correct
//! their name, change their password and re-enrol TOTP (both current
//! factors required; other sessions end), and export their data; a
//! superuser corrects a clinician's name and e-mail.

use chrono::Duration;
use mestring_dashboard::totp::TotpSecret;
use mestring_domain::clock::Clock;
use mestring_store::staff::StaffRole;

use crate::helpers::{StaffFixture, TestApp, backends};

/// The TOTP code of `secret` at the app's now, after moving the clock to
/// the next 30-second step (a step is accepted only once).
fn next_code(app: &TestApp, secret: &TotpSecret) -> String {
    app.clock.advance(Duration::seconds(31));
    secret.code_at(app.clock.now())
}

#[actix_web::test]
async fn staff_see_and_correct_their_own_data() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Profil").await;
        let mut me: StaffFixture = app
            .create_staff(&org, "kari@profil.no", StaffRole::Clinician)
            .await;
        let s = app.client();
        assert_eq!(
            s.staff_login(&me, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        // A second session of the same person, on another computer.
        let elsewhere = app.client();
        app.clock.advance(Duration::seconds(31));
        assert_eq!(
            elsewhere.staff_login(&me, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        // A sharing user whose page Kari opens.
        let code = app
            .issue_codes_for(Some(&org), Some("angst"), 1)
            .await
            .remove(0)
            .reveal();
        let u = app.client();
        assert_eq!(u.login(&code).await.status, 303);
        assert_eq!(u.post("/consent", &[("choice", "yes")]).await.status, 303);
        let account = app.account_of(&code).await;
        assert_eq!(
            s.get(&format!("/dashboard/users/{account}")).await.status,
            200
        );

        let page = s.get("/dashboard").await.body;
        assert!(page.contains("href=\"/dashboard/profile\""));
        let profile = s.get("/dashboard/profile").await;
        assert_eq!(profile.status, 200);
        for held in [
            "Test Fagperson",
            "kari@profil.no",
            "Klinikk Profil",
            "Denne innloggingen",
            "Forrige innlogging",
        ] {
            assert!(profile.body.contains(held), "{held}: {}", profile.body);
        }
        let masked = mestring_dashboard::codes::mask_code(&code);
        assert!(profile.body.contains(&masked), "own access-log entry");
        assert!(!profile.body.contains(&code));

        // Export.
        let export = s.get("/dashboard/profile/export.json").await;
        assert_eq!(export.status, 200);
        assert!(
            export
                .header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment"))
        );
        let json: serde_json::Value = serde_json::from_str(&export.body).expect("json");
        assert_eq!(json["profile"]["email"], "kari@profil.no");
        assert_eq!(json["profile"]["role"], "clinician");
        assert_eq!(json["profile"]["views"].as_array().map(Vec::len), Some(1));
        assert!(json["profile"]["previous_login_at"].is_string());

        // Name: bad input is named; a good one is saved.
        let bad = s.post("/dashboard/profile/name", &[("name", "  ")]).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Skriv et navn"));
        let ok = s
            .post("/dashboard/profile/name", &[("name", "Kari Nordmann")])
            .await;
        assert_eq!(ok.location(), Some("/dashboard/profile?done=name"));
        assert!(
            s.get("/dashboard/profile?done=name")
                .await
                .body
                .contains("Kari Nordmann")
        );

        // Password: wrong current factors change nothing.
        let new_password = "en lang og god setning som passord";
        let code_now = next_code(&app, &me.totp);
        let wrong = s
            .post(
                "/dashboard/profile/password",
                &[
                    ("current", "feil passord"),
                    ("totp", &code_now),
                    ("password", new_password),
                    ("repeat", new_password),
                ],
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("Ingenting er endret"));
        let short = s
            .post(
                "/dashboard/profile/password",
                &[
                    ("current", &me.password),
                    ("totp", &next_code(&app, &me.totp)),
                    ("password", "kort"),
                    ("repeat", "kort"),
                ],
            )
            .await;
        assert_eq!(short.status, 422);
        assert!(short.body.contains("for kort"));
        let changed = s
            .post(
                "/dashboard/profile/password",
                &[
                    ("current", &me.password),
                    ("totp", &next_code(&app, &me.totp)),
                    ("password", new_password),
                    ("repeat", new_password),
                ],
            )
            .await;
        assert_eq!(changed.location(), Some("/dashboard/profile?done=password"));
        assert_eq!(
            elsewhere.get("/dashboard").await.location(),
            Some("/staff/login"),
            "the other session ended"
        );
        assert_eq!(s.get("/dashboard").await.status, 200, "this one goes on");
        let old = app.client();
        let r = old
            .post(
                "/staff/login",
                &[("email", &me.email), ("password", &me.password)],
            )
            .await;
        assert_ne!(r.status, 303, "the old password is refused: {}", r.body);
        me.password = new_password.to_owned();

        // TOTP re-enrolment: a new secret, pending until its first code.
        let start = s
            .post(
                "/dashboard/profile/totp",
                &[
                    ("current", &me.password),
                    ("totp", &next_code(&app, &me.totp)),
                ],
            )
            .await;
        assert_eq!(start.location(), Some("/dashboard/profile/totp"));
        let shown = s.get("/dashboard/profile/totp").await.body;
        let secret = shown
            .split("<code id=\"totp-secret\">")
            .nth(1)
            .and_then(|s| s.split("</code>").next())
            .expect("the new secret");
        let new_totp = TotpSecret::from_base32(secret).expect("base32");
        let wrong = s
            .post("/dashboard/profile/totp/confirm", &[("totp", "000000")])
            .await;
        assert_eq!(wrong.status, 422);
        let done = s
            .post(
                "/dashboard/profile/totp/confirm",
                &[("totp", &next_code(&app, &new_totp))],
            )
            .await;
        assert_eq!(done.location(), Some("/dashboard/profile?done=totp"));
        // The old secret no longer logs in; the new one does.
        let old_secret = std::mem::replace(&mut me.totp, new_totp);
        let again = app.client();
        app.clock.advance(Duration::seconds(31));
        let refused = again
            .staff_login(
                &StaffFixture {
                    id: me.id.clone(),
                    email: me.email.clone(),
                    password: me.password.clone(),
                    totp: old_secret,
                },
                app.clock.now(),
            )
            .await;
        assert_ne!(refused.location(), Some("/dashboard"));
        let fresh = app.client();
        app.clock.advance(Duration::seconds(31));
        assert_eq!(
            fresh.staff_login(&me, app.clock.now()).await.location(),
            Some("/dashboard")
        );
    }
}

#[actix_web::test]
async fn a_superuser_corrects_a_clinicians_name_and_email() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Rett").await;
        let boss = app
            .create_staff(&org, "sjef@rett.no", StaffRole::Superuser)
            .await;
        let mut kari = app
            .create_staff(&org, "kari@rett.no", StaffRole::Clinician)
            .await;
        app.create_staff(&org, "ola@rett.no", StaffRole::Clinician)
            .await;
        let other_org = app.create_org("Annen").await;
        let stranger = app
            .create_staff(&other_org, "per@annen.no", StaffRole::Clinician)
            .await;
        let b = app.client();
        assert_eq!(
            b.staff_login(&boss, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        let list = b.get("/dashboard/staff").await.body;
        let edit = format!("/dashboard/staff/{}/edit", kari.id);
        assert!(list.contains(&format!("href=\"{edit}\"")));
        assert!(!list.contains(&format!("/dashboard/staff/{}/edit", boss.id)));
        let form = b.get(&edit).await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("value=\"kari@rett.no\""));

        let taken = b
            .post(&edit, &[("name", "Kari"), ("email", "ola@rett.no")])
            .await;
        assert_eq!(taken.status, 422);
        assert!(taken.body.contains("bruker allerede"));
        let invalid = b
            .post(&edit, &[("name", "Kari"), ("email", "ikke en adresse")])
            .await;
        assert_eq!(invalid.status, 422);
        assert!(invalid.body.contains("value=\"ikke en adresse\""), "kept");
        let ok = b
            .post(
                &edit,
                &[
                    ("name", "Kari Nordmann"),
                    ("email", "Kari.Nordmann@Rett.no"),
                ],
            )
            .await;
        assert_eq!(ok.location(), Some("/dashboard/staff?edited=true"));
        assert!(
            b.get("/dashboard/staff?edited=true")
                .await
                .body
                .contains("Kari Nordmann")
        );
        // Kari logs in with the corrected address.
        kari.email = "kari.nordmann@rett.no".to_owned();
        let k = app.client();
        assert_eq!(
            k.staff_login(&kari, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        // Not for clinicians, not across organisations.
        assert_eq!(k.get(&edit).await.status, 404);
        assert_eq!(
            b.get(&format!("/dashboard/staff/{}/edit", stranger.id))
                .await
                .status,
            404
        );
    }
}
