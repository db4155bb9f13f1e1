//! The clinician's overview prepares the next appointment: for users who
//! share, the latest PHQ-9 and GAD-7 with band and trajectory, the item 9
//! mark, modules completed and recent registrations; filters and sorts by
//! these; nothing of a user who does not share beyond the status. And the
//! printable journal summary, with no code.

use chrono::Duration;
use mestring_domain::clock::Clock;
use mestring_store::staff::StaffRole;
use mestring_store::staff_views::StaffViewRow;

use crate::helpers::{TestApp, backends};

/// How many openings the organisation's access log holds.
async fn views(app: &TestApp, org: &mestring_domain::id::Id) -> usize {
    let org = org.clone();
    app.state
        .store
        .run(move |conn| StaffViewRow::list_for_org(conn, &org, 1000, 0))
        .await
        .expect("views")
        .len()
}

/// The account ids linked from the overview's rows, in order.
fn linked_accounts(html: &str) -> Vec<String> {
    html.split("href=\"/dashboard/users/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|s| !s.contains('/'))
        .map(str::to_owned)
        .collect()
}

/// The overview row (`<tr>…</tr>`) linking to `account`.
fn row_of<'a>(html: &'a str, account: &str) -> &'a str {
    let at = html
        .find(&format!("href=\"/dashboard/users/{account}\""))
        .unwrap_or_else(|| panic!("no row for {account}"));
    let start = html[..at].rfind("<tr>").expect("row start");
    let end = at + html[at..].find("</tr>").expect("row end");
    &html[start..end]
}

#[actix_web::test]
async fn the_overview_summarises_sharing_users_and_filters_by_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = app.create_org("Klinikk Oversikt").await;
        let codes: Vec<String> = app
            .issue_codes_for(Some(&org), Some("nedstemthet"), 4)
            .await
            .into_iter()
            .map(|c| c.reveal())
            .collect();
        let login = |code: String, share: bool| {
            let c = app.client();
            async move {
                assert_eq!(c.login(&code).await.status, 303);
                let choice = if share { "yes" } else { "no" };
                assert_eq!(c.post("/consent", &[("choice", choice)]).await.status, 303);
                c
            }
        };
        // C shares and then does nothing for 15 days.
        let _c = login(codes[2].clone(), true).await;
        app.clock.advance(Duration::days(15));
        // A: PHQ-9 0, then 9 with item 9 above 0: deteriorated, flagged.
        let a = login(codes[0].clone(), true).await;
        a.answer_all("phq9", 9, "0").await;
        app.clock.advance(Duration::minutes(5));
        a.answer_all("phq9", 9, "1").await;
        // B: PHQ-9 27, then 0: recovered; one GAD-7; one registration.
        let b = login(codes[1].clone(), true).await;
        b.answer_all("phq9", 9, "3").await;
        app.clock.advance(Duration::minutes(5));
        b.answer_all("phq9", 9, "0").await;
        b.answer_all("gad7", 7, "1").await;
        let saved = b
            .post(
                "/app/registrations/daily-checkin/new",
                &[
                    ("mood", "6"),
                    ("worry", "2"),
                    ("sleep", "ok"),
                    ("activity", "some"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303);
        // D does not share, and answers with item 9 above 0.
        let d = login(codes[3].clone(), false).await;
        d.answer_all("phq9", 9, "3").await;

        let [ida, idb, idc, idd] = [
            app.account_of(&codes[0]).await.to_string(),
            app.account_of(&codes[1]).await.to_string(),
            app.account_of(&codes[2]).await.to_string(),
            app.account_of(&codes[3]).await.to_string(),
        ];
        let staff = app
            .create_staff(&org, "lege@oversikt.no", StaffRole::Clinician)
            .await;
        let s = app.client();
        assert_eq!(
            s.staff_login(&staff, app.clock.now()).await.location(),
            Some("/dashboard")
        );

        let home = s.get("/dashboard").await;
        assert_eq!(home.status, 200);
        let page = &home.body;
        assert!(page.contains("<th scope=\"col\">PHQ-9</th>"));
        assert!(page.contains("<th scope=\"col\">GAD-7</th>"));
        let row_a = row_of(page, &ida);
        assert!(
            row_a.contains("9 (Milde plager); pålitelig forverring"),
            "{row_a}"
        );
        assert!(row_a.contains("Spørsmål 9 over 0"));
        assert!(row_a.contains("0 av 6"));
        let row_b = row_of(page, &idb);
        assert!(row_b.contains("0 ("), "{row_b}");
        assert!(row_b.contains("bedring til under grensen"), "{row_b}");
        assert!(
            row_b.contains("7 (") && row_b.contains("første måling"),
            "{row_b}"
        );
        assert!(
            row_b.contains("<td>1</td>"),
            "one recent registration: {row_b}"
        );
        assert!(!row_b.contains("Spørsmål 9 over 0"));
        // D does not share: no link, no scores, no mark anywhere for it.
        assert!(!linked_accounts(page).contains(&idd));
        assert_eq!(page.matches("Spørsmål 9 over 0").count(), 1, "only A");
        assert!(!page.contains("27 ("), "D's total is not shown");

        let only = |filter: &str| {
            let s = &s;
            let filter = filter.to_owned();
            async move { linked_accounts(&s.get(&format!("/dashboard?filter={filter}")).await.body) }
        };
        assert_eq!(only("item9").await, std::slice::from_ref(&ida));
        assert_eq!(only("deteriorated").await, std::slice::from_ref(&ida));
        assert_eq!(only("inactive").await, std::slice::from_ref(&idc));
        let mut sharing = only("sharing").await;
        sharing.sort();
        let mut expected = vec![ida.clone(), idb.clone(), idc.clone()];
        expected.sort();
        assert_eq!(sharing, expected, "never D");
        let narrowed = s.get("/dashboard?filter=item9").await.body;
        assert!(narrowed.contains("1 brukere som deler"), "{narrowed}");
        assert!(narrowed.contains("<option value=\"item9\" selected>"));
        // Highest PHQ-9 first: A (9), B (0), then C (none).
        assert_eq!(
            linked_accounts(&s.get("/dashboard?sort=phq9").await.body),
            [ida.clone(), idb.clone(), idc.clone()]
        );
        // Longest since activity first: C.
        assert_eq!(
            linked_accounts(&s.get("/dashboard?sort=inactive").await.body)[0],
            idc
        );
        // Unknown values, even bytes that are not UTF-8, fall back to the
        // plain overview.
        let odd = s.get("/dashboard?filter=x&sort=nonsense").await;
        assert_eq!(odd.status, 200);
        assert!(odd.body.contains("<option value=\"\" selected>"));
        assert_eq!(s.get("/dashboard?sort=%F0").await.status, 200);

        // The journal summary: no code, no pseudonym; logged.
        let before = views(&app, &org).await;
        let user_page = s.get(&format!("/dashboard/users/{ida}")).await.body;
        assert!(user_page.contains(&format!("href=\"/dashboard/users/{ida}/summary\"")));
        let summary = s.get(&format!("/dashboard/users/{ida}/summary")).await;
        assert_eq!(summary.status, 200);
        assert!(summary.body.contains("Sammendrag for journalen"));
        assert!(summary.body.contains("pålitelig forverring"));
        assert!(summary.body.contains("spørsmål 9"));
        assert!(!summary.body.contains("<code>"), "no pseudonym");
        assert!(!summary.body.contains(&codes[0]));
        assert!(
            !summary.body.contains(&codes[0][codes[0].len() - 4..]),
            "not even the masked code's visible part"
        );
        let after = views(&app, &org).await;
        assert_eq!(
            after,
            before + 2,
            "the user page and the summary are logged"
        );
        let not_shared = s.get(&format!("/dashboard/users/{idd}/summary")).await;
        assert_eq!(not_shared.status, 200);
        assert!(not_shared.body.contains("deler ikke"));
        assert!(!not_shared.body.contains("<td>27</td>") && !not_shared.body.contains("27 ("));
        // A voids the answer with item 9: the summary row follows at once,
        // so A is neither flagged nor deteriorated any more.
        let results = a.get("/app/results").await.body;
        let latest = results
            .split("href=\"/app/results/")
            .filter_map(|s| s.split('"').next())
            .filter(|s| !s.contains('/'))
            .last()
            .expect("a result")
            .to_owned();
        let latest_page = a.get(&format!("/app/results/{latest}")).await.body;
        let latest = if latest_page.contains(": 9") || latest_page.contains(">9<") {
            latest
        } else {
            results
                .split("href=\"/app/results/")
                .filter_map(|s| s.split('"').next())
                .find(|s| !s.contains('/') && *s != latest)
                .expect("the other result")
                .to_owned()
        };
        assert_eq!(
            a.post(&format!("/app/results/{latest}/void"), &[])
                .await
                .status,
            303
        );
        assert!(only("item9").await.is_empty(), "no longer flagged");
        assert!(only("deteriorated").await.is_empty());
        let row_a = s.get("/dashboard").await.body;
        let row_a = row_of(&row_a, &ida).to_owned();
        assert!(
            row_a.contains("0 (") && row_a.contains("første måling"),
            "{row_a}"
        );

        // Another organisation's staff: 404.
        let other_org = app.create_org("Annen klinikk").await;
        let other = app
            .create_staff(&other_org, "lege@annen.no", StaffRole::Clinician)
            .await;
        let o = app.client();
        assert_eq!(
            o.staff_login(&other, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        assert_eq!(
            o.get(&format!("/dashboard/users/{ida}/summary"))
                .await
                .status,
            404
        );
        assert!(linked_accounts(&o.get("/dashboard?filter=sharing").await.body).is_empty());
    }
}

/// The overview's gate reads the sharing window stored beside each
/// account; on seeded data (written in bulk) and after consent events
/// recorded by the app, it selects exactly the accounts whose consent
/// histories say they share, now and at later instants (lapses included).
#[actix_web::test]
async fn the_stored_sharing_windows_agree_with_the_consent_histories() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let stdout = crate::helpers::seed(
            &app.db,
            &["--accounts", "300", "--weeks", "40", "--orgs", "1"],
        );
        let org = mestring_domain::id::Id::from_trusted(crate::helpers::printed(&stdout, "org:"));
        // Some accounts change their mind through the app's own path.
        let ids: Vec<String> = {
            let org = org.clone();
            app.state
                .store
                .run(move |conn| {
                    use diesel::prelude::*;
                    use mestring_store::schema::accounts;
                    Ok(accounts::table
                        .filter(accounts::org_id.eq(org.as_str()))
                        .select(accounts::id)
                        .load::<String>(conn)?)
                })
                .await
                .expect("ids")
        };
        let now = app.clock.now();
        for (i, id) in ids.iter().take(30).enumerate() {
            let kind = if i % 2 == 0 {
                mestring_domain::consent::ConsentEventKind::Given
            } else {
                mestring_domain::consent::ConsentEventKind::Withdrawn
            };
            app.record_consent(&mestring_domain::id::Id::from_trusted(id.clone()), kind)
                .await;
        }
        let mut checked_sharing = 0;
        for later in [0, 1, 20, 26, 27, 60] {
            let at = now + Duration::weeks(later);
            let (gate, expected) = {
                let org = org.clone();
                let ids = ids.clone();
                app.state
                    .store
                    .run(move |conn| {
                        let mut gate: Vec<String> =
                            mestring_store::consent::read_shared_org(conn, &org, at, |conn, s| {
                                use mestring_store::overview::{NarrowedOrder, Narrowing};
                                mestring_store::overview::narrowed_page_for_org(
                                    conn,
                                    s,
                                    Narrowing::Sharing,
                                    NarrowedOrder::Newest,
                                    i64::MAX,
                                    0,
                                )
                            })?
                            .0
                            .into_iter()
                            .map(mestring_domain::id::Id::into_string)
                            .collect();
                        gate.sort();
                        let histories = mestring_store::consent::ConsentRow::histories(conn, &ids)?;
                        let mut expected: Vec<String> = histories
                            .into_iter()
                            .filter(|(_, h)| mestring_domain::consent::is_sharing(h, at))
                            .map(|(id, _)| id)
                            .collect();
                        expected.sort();
                        Ok((gate, expected))
                    })
                    .await
                    .expect("gate")
            };
            assert_eq!(gate, expected, "{backend:?}, {later} weeks on");
            checked_sharing += gate.len();
        }
        assert!(
            checked_sharing > 50,
            "the comparison saw sharing accounts: {checked_sharing}"
        );
    }
}
