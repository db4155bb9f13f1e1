//! End-to-end tests for the dashboard area: staff invitations (file
//! outbox and a real SMTP exchange), two-step staff login, issuing codes,
//! the overview, the consent-gated user page, isolation between
//! organisations, deactivation and the access log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use chrono::Duration;
use mestring_dashboard::codes::mask_code;
use mestring_domain::clock::Clock;
use mestring_domain::consent::ConsentEventKind;
use mestring_domain::id::Id;
use mestring_store::staff::{StaffRole, StaffRow};
use mestring_store::staff_views::StaffViewRow;

use crate::helpers::{
    Backend, Client, ServerProcess, TestApp, TestDb, backends, invite_path, outbox_mails, run_cli,
};

/// Every `XXXX-XXXX-XXXX-XXXX` inside `<code>` in a page.
/// Codes shown in `<code>` elements: full ones (the printed sheet) or
/// masked ones (the overview and other staff pages).
fn codes_in(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .filter(|s| s.chars().count() == 19 && s.matches('-').count() == 3)
        .map(str::to_owned)
        .collect()
}

fn first_program(app: &TestApp) -> String {
    app.state
        .content
        .programs()
        .next()
        .expect("content has a program")
        .slug
        .to_string()
}

/// Issues `n` codes from the dashboard; returns the sheet path and codes.
async fn issue_from_dashboard(app: &TestApp, staff: &Client, n: u32) -> (String, Vec<String>) {
    let program = first_program(app);
    let res = staff
        .post(
            "/dashboard/codes",
            &[("program", &program), ("count", &n.to_string())],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let sheet = res.location().expect("to the sheet").to_owned();
    assert!(sheet.starts_with("/dashboard/sheets/"));
    let page = staff.get(&sheet).await;
    assert_eq!(page.status, 200);
    let codes = codes_in(&page.body);
    assert_eq!(codes.len(), n as usize, "one slip per code");
    assert!(page.body.contains("Din kode til Mestring"), "bokmål slips");
    assert!(
        page.body.contains("vises bare denne ene gangen"),
        "says it is shown once"
    );
    // Shown once: the codes are logins.
    let again = staff.get(&sheet).await;
    assert_eq!(again.status, 410);
    assert!(codes_in(&again.body).is_empty(), "no code the second time");
    assert!(again.body.contains("vises ikke igjen"));
    (sheet, codes)
}

#[actix_web::test]
async fn invitation_password_rules_totp_enrolment_and_two_step_login() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let boss = app
            .create_staff(&org, "sjef@klinikk-a.no", StaffRole::Superuser)
            .await;
        let b = app.client();
        assert_eq!(
            b.staff_login(&boss, app.clock.now()).await.location(),
            Some("/dashboard")
        );

        // The superuser invites a clinician; the e-mail lands in the outbox.
        let res = b
            .post(
                "/dashboard/staff",
                &[("name", "Kari Fagperson"), ("email", "Kari@Klinikk-A.no")],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        let data_dir = app.db.dir.path().join("data");
        let mails = outbox_mails(&data_dir);
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("kari@klinikk-a.no"));
        let link = invite_path(&mails[0]).expect("link in the e-mail");

        // Password rules: length and the common list, nothing else.
        let c = app.client();
        assert_eq!(c.get(&link).await.status, 200);
        let short = c
            .post(&link, &[("password", "kort"), ("password_repeat", "kort")])
            .await;
        assert_eq!(short.status, 422);
        assert!(short.body.contains("for kort"));
        let common = c
            .post(
                &link,
                &[
                    ("password", "password1234"),
                    ("password_repeat", "password1234"),
                ],
            )
            .await;
        assert_eq!(common.status, 422);
        assert!(common.body.contains("for vanlig"));
        let pw = "alle små bokstaver går fint";
        let ok = c
            .post(&link, &[("password", pw), ("password_repeat", pw)])
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let totp_path = ok.location().expect("totp step").to_owned();

        // TOTP enrolment: secret as text and an inline SVG QR code.
        let page = c.get(&totp_path).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<svg"));
        let secret = page
            .body
            .split("id=\"totp-secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("secret shown")
            .to_owned();
        let secret = mestring_dashboard::totp::TotpSecret::from_base32(&secret).expect("base32");
        let wrong = c.post(&totp_path, &[("totp", "000000")]).await;
        assert_eq!(wrong.status, 422);
        let done = c
            .post(&totp_path, &[("totp", &secret.code_at(app.clock.now()))])
            .await;
        assert_eq!(done.location(), Some("/staff/login?activated=true"));
        // The link works once.
        assert_eq!(c.get(&link).await.status, 404);

        // One generic message for a wrong password and an unknown account.
        let wrong_pw = c
            .post(
                "/staff/login",
                &[
                    ("email", "kari@klinikk-a.no"),
                    ("password", "feil passord her"),
                ],
            )
            .await;
        let unknown = c
            .post(
                "/staff/login",
                &[("email", "ingen@klinikk-a.no"), ("password", pw)],
            )
            .await;
        assert_eq!(wrong_pw.status, 422);
        assert_eq!(unknown.status, 422);
        let msg = "Innloggingen mislyktes";
        assert!(wrong_pw.body.contains(msg) && unknown.body.contains(msg));

        // Two steps; the code used at enrolment cannot be used again.
        let step1 = c
            .post(
                "/staff/login",
                &[("email", "KARI@klinikk-a.no"), ("password", pw)],
            )
            .await;
        assert_eq!(step1.location(), Some("/staff/login"));
        assert!(
            c.get("/dashboard").await.status == 303,
            "password alone opens nothing"
        );
        let replay = c
            .post(
                "/staff/login",
                &[("totp", &secret.code_at(app.clock.now()))],
            )
            .await;
        assert_eq!(replay.status, 422, "a used code is refused");
        app.clock.advance(Duration::seconds(30));
        let step2 = c
            .post(
                "/staff/login",
                &[("totp", &secret.code_at(app.clock.now()))],
            )
            .await;
        assert_eq!(step2.location(), Some("/dashboard"));
        let cookie = step2
            .headers_named("set-cookie")
            .into_iter()
            .find(|v| v.starts_with("mestring_staff="))
            .expect("staff cookie")
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let dash = c.get("/dashboard").await;
        assert_eq!(dash.status, 200);
        assert!(
            dash.header("cache-control")
                .unwrap_or_default()
                .contains("no-store")
        );

        // Idle timeout: 15 minutes.
        app.clock.advance(Duration::minutes(16));
        assert_eq!(c.get("/dashboard").await.location(), Some("/staff/login"));
    }
}

#[actix_web::test]
async fn staff_sessions_end_after_twelve_hours_even_when_active() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let c = app.client();
        assert_eq!(
            c.staff_login(&kari, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        for _ in 0..60 {
            app.clock.advance(Duration::minutes(12));
            if c.get("/dashboard").await.status != 200 {
                break;
            }
        }
        // 60 × 12 min = 12 h: the session must have ended by then.
        assert_eq!(c.get("/dashboard").await.location(), Some("/staff/login"));
    }
}

#[actix_web::test]
async fn issuing_sheets_overview_search_and_pagination() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let c = app.client();
        c.staff_login(&kari, app.clock.now()).await;
        let program = first_program(&app);
        let too_many = c
            .post(
                "/dashboard/codes",
                &[("program", &program), ("count", "101")],
            )
            .await;
        assert_eq!(too_many.status, 400);
        let (_, codes) = issue_from_dashboard(&app, &c, 100).await;
        issue_from_dashboard(&app, &c, 3).await;

        let home = c.get("/dashboard").await;
        assert!(home.body.contains("103"), "total shown");
        assert!(home.body.contains("Side 1 av 3"));
        assert_eq!(codes_in(&home.body).len(), 50);
        // The overview shows each issued code masked, never in full: the
        // paper code is a login, and the consent gate must hold.
        for code in &codes {
            assert!(
                !home.body.contains(code.as_str()),
                "full code on the overview"
            );
        }
        assert!(
            codes_in(&home.body)
                .iter()
                .all(|c| c.contains("-····-····-"))
        );
        assert!(home.body.contains("Ikke brukt ennå"));
        assert_eq!(codes_in(&c.get("/dashboard?page=3").await.body).len(), 3);

        // Search by the code (any spelling the patient might read out).
        let typed = codes[42].to_lowercase().replace('-', " ");
        let found = c
            .get(&format!("/dashboard?q={}", typed.replace(' ', "+")))
            .await;
        assert_eq!(codes_in(&found.body), vec![mask_code(&codes[42])]);

        // CLI-issued codes get a pseudonym too.
        let cli_codes = app.issue_codes(1, None).await;
        assert_eq!(cli_codes.len(), 1);
    }
}

#[actix_web::test]
async fn user_page_only_while_sharing_and_never_for_another_organisation() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org_a = app.create_org("Klinikk A").await;
        let org_b = app.create_org("Klinikk B").await;
        let a = app
            .create_staff(&org_a, "a@a.no", StaffRole::Superuser)
            .await;
        let b = app
            .create_staff(&org_b, "b@b.no", StaffRole::Superuser)
            .await;
        let ca = app.client();
        let cb = app.client();
        ca.staff_login(&a, app.clock.now()).await;
        cb.staff_login(&b, app.clock.now()).await;
        let (sheet, codes) = issue_from_dashboard(&app, &ca, 2).await;
        let user = app.account_of(&codes[0]).await;
        let page = format!("/dashboard/users/{user}");

        // The user logs in once; not sharing yet.
        assert_eq!(app.client().login(&codes[0]).await.status, 303);
        let p = ca.get(&page).await;
        assert_eq!(p.status, 200);
        assert!(p.body.contains("deler ikke data"), "{}", p.body);
        assert!(!p.body.contains("Fremdrift i modulene"));

        // Two PHQ-9 results, the first with the item-9 flag.
        let (u, now, keks) = (user.clone(), app.clock.now(), app.state.keks.clone());
        app.state
            .store
            .transaction(move |conn| {
                use mestring_domain::content::FlagId;
                let key = mestring_store::account_keys::for_writing(conn, &keks, &u, now)?;
                use mestring_store::responses::{NewResponse, ResponseRow};
                let flag = [FlagId::new("suicidal-ideation")];
                for (total, band, flags, at) in [
                    (
                        18u32,
                        "moderately-severe",
                        &flag[..],
                        now - Duration::weeks(4),
                    ),
                    (8, "mild", &[][..], now),
                ] {
                    ResponseRow::insert(
                        conn,
                        &key,
                        &NewResponse {
                            account: &u,
                            questionnaire_id: "phq9",
                            questionnaire_version: 1,
                            step: None,
                            total,
                            band_id: band,
                            flags,
                            prorated: false,
                            answers: &[],
                        },
                        at,
                    )?;
                }
                Ok(())
            })
            .await
            .expect("responses stored");

        app.record_consent(&user, ConsentEventKind::Given).await;
        let p = ca.get(&page).await;
        assert!(
            p.body.contains("Fremdrift i modulene"),
            "shared while sharing"
        );
        assert!(
            p.body.contains("PHQ-9") && p.body.contains("<polyline"),
            "chart and table"
        );
        assert!(
            p.body.contains("pålitelig bedring"),
            "change classification"
        );
        assert!(p.body.contains("Obs:"), "item-9 flag");
        assert!(
            p.body.contains(&mask_code(&codes[0])) && !p.body.contains(&codes[0]),
            "pseudonym is the issued code, masked"
        );
        assert!(ca.get("/dashboard").await.body.contains("Deler til"));

        // Withdrawn: one second later nothing is shown.
        app.record_consent(&user, ConsentEventKind::Withdrawn).await;
        app.clock.advance(Duration::seconds(1));
        let p = ca.get(&page).await;
        assert_eq!(p.status, 200);
        assert!(!p.body.contains("Fremdrift i modulene"));
        assert!(
            ca.get("/dashboard")
                .await
                .body
                .contains("Deling trukket tilbake")
        );

        // Shared again, then the 26-week lapse with no answer.
        app.record_consent(&user, ConsentEventKind::Given).await;
        assert!(ca.get(&page).await.body.contains("Fremdrift i modulene"));
        app.clock.advance(Duration::weeks(26) + Duration::hours(2));
        // Staff sessions do not outlive 12 hours: log in again.
        assert_eq!(ca.get("/dashboard").await.location(), Some("/staff/login"));
        ca.staff_login(&a, app.clock.now()).await;
        cb.staff_login(&b, app.clock.now()).await;
        assert!(!ca.get(&page).await.body.contains("Fremdrift i modulene"));
        let home = ca.get("/dashboard").await.body;
        assert!(home.contains("Delingen er utløpt"), "{home}");

        // Another organisation: 404 for everything of A's, even while sharing.
        app.record_consent(&user, ConsentEventKind::Given).await;
        assert_eq!(cb.get(&page).await.status, 404);
        assert_eq!(cb.get(&sheet).await.status, 404);
        assert_eq!(
            cb.post(&format!("/dashboard/staff/{}/deactivate", a.id), &[])
                .await
                .status,
            404
        );
        assert!(codes_in(&cb.get("/dashboard").await.body).is_empty());
        let search = cb.get(&format!("/dashboard?q={}", codes[0])).await;
        assert!(codes_in(&search.body).is_empty());
        assert_eq!(
            cb.get(&format!("/dashboard/users/{}", Id::generate()))
                .await
                .status,
            404
        );
        assert_eq!(cb.get("/dashboard/users/not-an-id").await.status, 404);

        // The access log: A's superuser sees A's views; the user sees the
        // organisation (never the person).
        let log = ca.get("/dashboard/access-log").await;
        assert_eq!(log.status, 200);
        assert!(log.body.contains(&mask_code(&codes[0])));
        assert!(
            !log.body.contains(&codes[0]),
            "masked in the access log too"
        );
        assert!(
            !cb.get("/dashboard/access-log")
                .await
                .body
                .contains(&mask_code(&codes[0]))
        );
        let seen = app
            .state
            .store
            .run(move |conn| StaffViewRow::list_for_account(conn, &user))
            .await
            .expect("views");
        // Every opening by A's staff is logged, shared or not (five above);
        // B's refused attempts are not openings.
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|(org, _)| org == "Klinikk A"));
    }
}

#[actix_web::test]
async fn deactivated_clinician_is_out_on_the_next_request() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let boss = app
            .create_staff(&org, "sjef@a.no", StaffRole::Superuser)
            .await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let cb = app.client();
        let ck = app.client();
        cb.staff_login(&boss, app.clock.now()).await;
        ck.staff_login(&kari, app.clock.now()).await;
        assert_eq!(ck.get("/dashboard").await.status, 200);
        // Clinicians are not superusers.
        assert_eq!(ck.get("/dashboard/staff").await.status, 404);
        assert_eq!(ck.get("/dashboard/access-log").await.status, 404);

        let res = cb
            .post(&format!("/dashboard/staff/{}/deactivate", kari.id), &[])
            .await;
        assert_eq!(res.status, 303);
        assert_eq!(ck.get("/dashboard").await.location(), Some("/staff/login"));
        app.clock.advance(Duration::seconds(30));
        let again = ck
            .post(
                "/staff/login",
                &[("email", &kari.email), ("password", &kari.password)],
            )
            .await;
        assert_eq!(again.status, 422, "deactivated: generic failure");
    }
}

#[actix_web::test]
async fn failures_are_limited_per_account() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let id = kari.id.clone();
        let now = app.clock.now();
        app.state
            .store
            .run(move |conn| {
                for _ in 0..100 {
                    StaffRow::record_failure(conn, &id, Duration::hours(1), now)?;
                }
                Ok(())
            })
            .await
            .expect("failures recorded");
        let c = app.client();
        let res = c
            .post(
                "/staff/login",
                &[("email", &kari.email), ("password", &kari.password)],
            )
            .await;
        assert_eq!(
            res.status, 422,
            "the 101st attempt in the hour fails even when right"
        );
        app.clock.advance(Duration::minutes(61));
        let res = c.staff_login(&kari, app.clock.now()).await;
        assert_eq!(res.location(), Some("/dashboard"));
    }
}

/// A minimal SMTP server on a std thread: answers EHLO/MAIL/RCPT/DATA/QUIT
/// and sends each message's DATA down the channel.
pub(crate) fn fake_smtp() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().expect("clone");
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 fake ESMTP\r\n");
                let (mut in_data, mut data) = (false, String::new());
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    let l = line.trim_end_matches(['\r', '\n']).to_owned();
                    line.clear();
                    if in_data {
                        if l == "." {
                            in_data = false;
                            let _ = tx.send(std::mem::take(&mut data));
                            let _ = w.write_all(b"250 OK queued\r\n");
                        } else {
                            data.push_str(&l);
                            data.push('\n');
                        }
                        continue;
                    }
                    let up = l.to_ascii_uppercase();
                    let reply: &[u8] = if up.starts_with("EHLO") {
                        b"250-fake\r\n250 8BITMIME\r\n"
                    } else if up.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if up.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = w.write_all(reply);
                }
            });
        }
    });
    (port, rx)
}

#[actix_web::test]
async fn invitation_is_delivered_through_a_real_smtp_exchange() {
    for backend in backends() {
        let (port, rx) = fake_smtp();
        let url = format!("smtp://127.0.0.1:{port}");
        let app = TestApp::spawn_with_env(backend, &[("MESTRING_SMTP_URL", &url)]).await;
        let org = app.create_org("Klinikk A").await;
        let boss = app
            .create_staff(&org, "sjef@a.no", StaffRole::Superuser)
            .await;
        let c = app.client();
        c.staff_login(&boss, app.clock.now()).await;
        let res = c
            .post(
                "/dashboard/staff",
                &[("name", "Per"), ("email", "per@a.no")],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        let data = crate::helpers::received(&rx, "mail over SMTP").await;
        let data = crate::helpers::unfold_quoted_printable(&data);
        assert!(data.contains("per@a.no"));
        let link = invite_path(&data).expect("link in the mail");
        assert_eq!(app.client().get(&link).await.status, 200);
        assert!(
            outbox_mails(&app.db.dir.path().join("data")).is_empty(),
            "not the outbox"
        );
    }
}

#[test]
fn staff_create_prints_the_link_last_and_writes_the_outbox() {
    for backend in backends() {
        let db = TestDb::new(backend);
        let org = crate::helpers::cli_create_org(&db, "Klinikk Nord");
        let out = run_cli(
            &db,
            &[
                "staff",
                "create",
                "--org",
                &org,
                "--email",
                "kari@nord.no",
                "--name",
                "Kari",
                "--role",
                "superuser",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let last = stdout.lines().last().expect("link line");
        assert!(last.contains("/staff/invite/"), "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("kari@nord.no"),
            "no e-mail address in logs"
        );
        let mails = outbox_mails(&db.dir.path().join("data"));
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains(last), "the same link is e-mailed");
        let bad = run_cli(
            &db,
            &[
                "staff",
                "create",
                "--org",
                &org,
                "--email",
                "kari@nord.no",
                "--name",
                "Kari",
                "--role",
                "clinician",
            ],
        );
        assert!(!bad.status.success(), "e-mail taken");
    }
}

#[actix_web::test]
async fn serve_demo_prints_staff_credentials_that_log_in() {
    let db = TestDb::new(Backend::Sqlite);
    let server = ServerProcess::start(&db, &["--demo"], &[]).await;
    let mut out = String::new();
    for _ in 0..100 {
        out = server.stdout();
        if out.contains("demo staff totp secret:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| panic!("{name} missing in {out}"))
    };
    let email = field("demo staff email:");
    let password = field("demo staff password:");
    let secret =
        mestring_dashboard::totp::TotpSecret::from_base32(&field("demo staff totp secret:"))
            .expect("base32");
    let c: Client = server.client();
    let r = c
        .post(
            "/staff/login",
            &[("email", &email), ("password", &password)],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = c
        .post(
            "/staff/login",
            &[("totp", &secret.code_at(chrono::Utc::now()))],
        )
        .await;
    assert_eq!(r.location(), Some("/dashboard"));
    assert_eq!(c.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn deletion_records_and_search_show_deleted_codes() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let kari = app
            .create_staff(&org, "kari@a.no", StaffRole::Clinician)
            .await;
        let c = app.client();
        c.staff_login(&kari, app.clock.now()).await;
        let (_, codes) = issue_from_dashboard(&app, &c, 2).await;
        let user = app.account_of(&codes[1]).await;
        let now = app.clock.now();
        app.state
            .store
            .run(move |conn| mestring_store::deletion::delete_account(conn, &user, now))
            .await
            .expect("deleted");
        let page = c.get("/dashboard/deletions").await;
        assert_eq!(page.status, 200);
        assert_eq!(codes_in(&page.body), vec![mask_code(&codes[1])]);
        let found = c.get(&format!("/dashboard?q={}", codes[1])).await;
        assert!(found.body.contains("Slettet"), "{}", found.body);
        // The overview lists existing codes first, then deleted ones with
        // their date.
        let overview = c.get("/dashboard").await.body;
        assert_eq!(
            codes_in(&overview),
            vec![mask_code(&codes[0]), mask_code(&codes[1])]
        );
        let deleted_row = overview.split(&mask_code(&codes[1])).nth(1).expect("row");
        assert!(
            deleted_row.contains(&format!("Slettet {}", mestring_web::fmt::date(now))),
            "{deleted_row}"
        );
    }
}

#[actix_web::test]
async fn invitation_links_expire_after_72_hours() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk A").await;
        let inv = mestring_dashboard::invite::invite(
            &app.state.store,
            &app.state.mail,
            &app.base,
            &mestring_store::staff::StaffHome::Organisation(org.clone()),
            "ny@a.no",
            "Ny Fagperson",
            StaffRole::Clinician,
            app.clock.now(),
        )
        .await
        .expect("invited");
        assert!(inv.mailed);
        let path = invite_path(&inv.link).expect("path");
        let c = app.client();
        app.clock.advance(Duration::hours(71));
        assert_eq!(c.get(&path).await.status, 200);
        app.clock.advance(Duration::hours(2));
        assert_eq!(c.get(&path).await.status, 404);
        assert_eq!(c.get("/staff/invite/not-a-token").await.status, 404);
    }
}

/// The issue's journey, all over HTTP: a superuser invites a clinician,
/// who enrols from the e-mailed link and issues a code; the user shares
/// and answers a PHQ-9; the clinician sees it; the user withdraws; the
/// clinician's page shows nothing; the user sees the view.
#[actix_web::test]
async fn the_journey_from_invitation_to_withdrawal_over_http() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Journey").await;
        let boss = app
            .create_staff(&org, "sjef@journey.no", StaffRole::Superuser)
            .await;
        let b = app.client();
        b.staff_login(&boss, app.clock.now()).await;
        let invited = b
            .post(
                "/dashboard/staff",
                &[("name", "Kari Fagperson"), ("email", "kari@journey.no")],
            )
            .await;
        assert_eq!(invited.status, 303, "{}", invited.body);
        let mail = outbox_mails(&app.db.dir.path().join("data"))
            .pop()
            .expect("invitation e-mail");
        let link = invite_path(&mail).expect("link");

        // The clinician chooses a password and enrols TOTP.
        let k = app.client();
        let pw = "en lang og fin setning";
        let set = k
            .post(&link, &[("password", pw), ("password_repeat", pw)])
            .await;
        let totp_path = set.location().expect("to the TOTP step").to_owned();
        let page = k.get(&totp_path).await;
        let secret = page
            .body
            .split("id=\"totp-secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("secret shown")
            .to_owned();
        let secret = mestring_dashboard::totp::TotpSecret::from_base32(&secret).expect("base32");
        k.post(&totp_path, &[("totp", &secret.code_at(app.clock.now()))])
            .await;
        app.clock.advance(Duration::seconds(30));
        k.post(
            "/staff/login",
            &[("email", "kari@journey.no"), ("password", pw)],
        )
        .await;
        let in_ = k
            .post(
                "/staff/login",
                &[("totp", &secret.code_at(app.clock.now()))],
            )
            .await;
        assert_eq!(in_.location(), Some("/dashboard"));

        // She issues a code.
        let (_, codes) = issue_from_dashboard(&app, &k, 1).await;
        let code = codes[0].clone();

        // The user shares and answers a PHQ-9 (all items 2: total 18).
        let u = app.client();
        assert_eq!(u.login(&code).await.location(), Some("/consent"));
        u.post("/consent", &[("choice", "yes")]).await;
        let items: Vec<String> = (1..=9).map(|i| format!("phq9-{i}")).collect();
        let answers: Vec<(&str, &str)> = items.iter().map(|i| (i.as_str(), "2")).collect();
        assert_eq!(
            u.post("/app/questionnaires/phq9", &answers).await.status,
            303
        );

        // The clinician finds the user and sees the result.
        let found = k
            .get(&format!("/dashboard?q={}", code.to_lowercase()))
            .await;
        let at = found
            .body
            .find("/dashboard/users/")
            .expect("link while sharing");
        let end = found.body[at..].find('"').expect("end") + at;
        let user_page = found.body[at..end].to_owned();
        let seen = k.get(&user_page).await;
        assert_eq!(seen.status, 200);
        assert!(seen.body.contains("<td>18</td>"), "{}", seen.body);
        assert!(seen.body.contains("<svg"), "a chart");

        // The user withdraws; one second later the page shows nothing.
        u.post("/settings/sharing", &[("action", "withdraw")]).await;
        app.clock.advance(Duration::seconds(1));
        let hidden = k.get(&user_page).await;
        assert_eq!(hidden.status, 200);
        assert!(
            hidden
                .body
                .contains("Brukeren deler ikke data med virksomheten nå")
        );
        assert!(!hidden.body.contains("<td>18</td>") && !hidden.body.contains("<svg"));

        // The user sees when the organisation looked (not who).
        let settings = u.get("/settings").await.body;
        let views = settings
            .split("Når dataene dine ble sett")
            .nth(1)
            .expect("views section");
        assert!(views.contains("Klinikk Journey"));
        assert!(!settings.contains("Kari Fagperson"));
        // The superuser's access log names the clinician.
        assert!(
            b.get("/dashboard/access-log")
                .await
                .body
                .contains("Kari Fagperson")
        );
    }
}

/// A role or consent event this version does not know, written into the
/// database by hand, is an error naming the column and the value: never
/// read as some default role or kind.
#[actix_web::test]
async fn an_unknown_stored_role_or_consent_kind_is_an_error_naming_column_and_value() {
    use diesel::RunQueryDsl;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Ukjent").await;
        let staff = app
            .create_staff(&org, "ukjent@example.no", StaffRole::Clinician)
            .await;
        let id = staff.id.clone();
        let err = app
            .state
            .store
            .run(move |conn| {
                diesel::sql_query(format!(
                    "UPDATE staff SET role = 'root' WHERE id = '{}'",
                    id.as_str()
                ))
                .execute(conn)?;
                StaffRow::find(conn, &id)
            })
            .await
            .expect_err("an unknown role must not load");
        assert_eq!(err.to_string(), "unknown value \"root\" in staff.role");

        let code = app.issue_code().await;
        let account = app.account_of(&code).await;
        app.record_consent(&account, ConsentEventKind::Given).await;
        let now = app.clock.now();
        let err = app
            .state
            .store
            .run(move |conn| {
                diesel::sql_query(format!(
                    "UPDATE consent_events SET kind = 'maybe' WHERE account_id = '{}'",
                    account.as_str()
                ))
                .execute(conn)?;
                mestring_store::consent::ConsentRow::state(conn, &account, now)
            })
            .await
            .expect_err("an unknown consent kind must not load");
        assert_eq!(
            err.to_string(),
            "unknown value \"maybe\" in consent_events.kind"
        );
    }
}
