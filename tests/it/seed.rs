//! `mestring seed`: synthetic organisations and accounts on either
//! backend, consistent with what the app itself writes (answers add up to
//! totals, flags follow from item 9, bands contain the totals), visible
//! to the staff login it prints.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::{TestApp, backends, cli_command};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.state
        .store
        .run(move |conn| {
            Ok(diesel::sql_query(sql)
                .load::<Count>(conn)?
                .first()
                .map_or(0, |c| c.n))
        })
        .await
        .expect("count")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Every index of the database, as `name: definition`, sorted.
async fn indexes(app: &TestApp) -> Vec<String> {
    let sql = match app.db.backend {
        crate::helpers::Backend::Sqlite => {
            "SELECT name || ': ' || sql AS name FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL"
        }
        crate::helpers::Backend::Postgres => {
            "SELECT indexname || ': ' || indexdef AS name FROM pg_indexes \
             WHERE schemaname = current_schema()"
        }
    };
    let mut names: Vec<String> = app
        .state
        .store
        .run(move |conn| Ok(diesel::sql_query(sql).load::<Name>(conn)?))
        .await
        .expect("indexes")
        .into_iter()
        .map(|n| n.name)
        .collect();
    names.sort();
    names
}

#[actix_web::test]
async fn seeded_data_is_consistent_and_visible_to_its_staff_login() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let bad = cli_command(&app.db, &["seed", "--accounts", "0"])
            .output()
            .expect("runs");
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("--accounts must be"));

        let before = indexes(&app).await;
        let out = cli_command(
            &app.db,
            &["seed", "--accounts", "400", "--weeks", "20", "--orgs", "2"],
        )
        .output()
        .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("rows/s"), "{stderr}");
        // A fresh database is loaded without its secondary indexes, and
        // gets every one of them back, as they were.
        assert!(stderr.contains("built "), "{stderr}");
        assert_eq!(indexes(&app).await, before, "the indexes after the seed");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(stdout.matches("org: ").count(), 2);

        let accounts = count(&app, "SELECT COUNT(*) AS n FROM accounts").await;
        let deleted = count(&app, "SELECT COUNT(*) AS n FROM deletion_records").await;
        assert_eq!(
            accounts + deleted,
            400,
            "every code is an account or a record"
        );
        assert!(deleted < 40, "about 2 % deleted: {deleted}");
        assert!(count(&app, "SELECT COUNT(*) AS n FROM questionnaire_responses").await > 200);
        assert!(count(&app, "SELECT COUNT(*) AS n FROM registration_entries").await > 50);
        assert!(count(&app, "SELECT COUNT(*) AS n FROM step_progress").await > 200);
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM code_batch_items i JOIN accounts a ON a.id = i.account_id \
                 WHERE i.issued_hash = a.code_hash"
            )
            .await,
            accounts,
            "every account is in a batch under its issued code"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM code_batch_items i JOIN accounts a ON a.id = i.account_id \
                 JOIN code_batches b ON b.id = i.batch_id WHERE b.org_id <> a.org_id"
            )
            .await,
            0,
            "batches hold only their organisation's codes"
        );
        // Answers add up to totals; item 9 above 0 raises the flag, and only then.
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM (SELECT r.id FROM questionnaire_responses r \
                 JOIN questionnaire_answers a ON a.response_id = r.id \
                 GROUP BY r.id, r.total HAVING SUM(a.weight) <> r.total) x"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM questionnaire_responses r \
                 JOIN questionnaire_answers a ON a.response_id = r.id AND a.item_id = 'phq9-9' \
                 WHERE (a.weight > 0) <> (r.flags = 'suicidal-ideation')"
            )
            .await,
            0
        );
        // The one-row summaries agree with the answers they summarise.
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM measure_summaries m WHERE m.answers <> \
                 (SELECT COUNT(*) FROM questionnaire_responses r WHERE r.account_id = m.account_id \
                  AND r.questionnaire_id = m.questionnaire_id AND r.voided_at IS NULL) \
                 OR m.latest_total <> (SELECT r.total FROM questionnaire_responses r \
                  WHERE r.account_id = m.account_id AND r.questionnaire_id = m.questionnaire_id \
                  ORDER BY r.completed_at DESC, r.id DESC LIMIT 1) \
                 OR m.first_total <> (SELECT r.total FROM questionnaire_responses r \
                  WHERE r.account_id = m.account_id AND r.questionnaire_id = m.questionnaire_id \
                  ORDER BY r.completed_at ASC, r.id ASC LIMIT 1)"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM (SELECT DISTINCT account_id, questionnaire_id \
                 FROM questionnaire_responses) x"
            )
            .await,
            count(&app, "SELECT COUNT(*) AS n FROM measure_summaries").await
        );
        let sharing = count(
            &app,
            "SELECT COUNT(*) AS n FROM consent_events WHERE kind = 'given'",
        )
        .await;
        assert!(sharing > 50, "some share: {sharing}");

        // The printed staff login sees its organisation's overview with
        // the clinical columns of sharing users.
        let staff = crate::helpers::seeded_staff(&stdout, "staff");
        let s = app.client();
        use mestring_domain::clock::Clock;
        assert_eq!(
            s.staff_login(&staff, app.clock.now()).await.location(),
            Some("/dashboard")
        );
        let home = s.get("/dashboard?filter=sharing&sort=phq9").await;
        assert_eq!(home.status, 200);
        assert!(
            home.body.contains("href=\"/dashboard/users/"),
            "sharing users listed"
        );
    }
}
