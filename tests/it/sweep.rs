//! The hourly sweep (`jobs::run_once`): a step that keeps failing does not
//! stop the steps after it.

use chrono::Duration;
use mestring_crypto::shred::{DataKey, KekRing};
use mestring_domain::clock::Clock;
use mestring_domain::policy::retention;
use mestring_store::account_keys;
use mestring_store::feedback::{FeedbackOutcome, FeedbackRow, NewFeedback};

use crate::helpers::{TestApp, backends};

fn suggestion(account: &mestring_domain::id::Id) -> NewFeedback<'_> {
    NewFeedback {
        account,
        kind: "suggestion",
        topic: Some("other"),
        helpful: None,
        ease: None,
        body: "a suggestion",
    }
}

/// The newest key-encryption key on disk.
fn current_kek(app: &TestApp) -> u32 {
    KekRing::load(&app.db.dir.path().join("data").join("data-keys"))
        .expect("ring")
        .current()
        .expect("a KEK")
        .0
}

/// A purge of handled feedback that fails on every pass (here a trigger
/// refuses the delete, as a damaged table might) does not stop the pass:
/// it still rotates the key-encryption keys (and runs its other steps),
/// and says which step failed.
#[actix_web::test]
async fn a_step_that_keeps_failing_does_not_stop_key_rotation() {
    use diesel::connection::SimpleConnection;
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let account = app.account_of(&code).await;
        let (keks, now) = (app.state.keks.clone(), app.clock.now());
        let refuse = crate::helpers::refusing_trigger(backend, "feedback", "DELETE");
        app.state
            .store
            .run(move |conn| {
                let handled = FeedbackRow::submit(conn, &keks, &suggestion(&account), now)?;
                FeedbackRow::mark_handled(conn, handled.as_str(), FeedbackOutcome::Closed, now)?;
                conn.batch_execute(&refuse)?;
                Ok(())
            })
            .await
            .expect("fixture");
        let before = current_kek(&app);

        // Past the retention of handled feedback, and past the KEK's
        // rotation time.
        app.clock
            .advance(retention::HANDLED_FEEDBACK + Duration::days(1));
        let data = app.db.dir.path().join("data");
        let pass = mestring_server::jobs::run_once(&app.state, 30, &data).await;
        assert!(
            current_kek(&app) > before,
            "{backend:?}: the key-encryption keys rotated all the same"
        );
        let err = pass.expect_err("the purge cannot delete");
        assert!(
            err.to_string().contains("handled feedback"),
            "{backend:?}: {err}"
        );
        // The account's good key was re-wrapped under the new KEK.
        let account = app.account_of(&code).await;
        let wrapped = app
            .state
            .store
            .run(move |conn| account_keys::wrapped_of(conn, &account))
            .await
            .expect("read")
            .expect("a key");
        assert_eq!(
            mestring_crypto::shred::wrapped_kek_id(&wrapped),
            Some(current_kek(&app)),
            "{backend:?}"
        );
    }
}

/// A feedback item that does not open under its account's key (what the
/// races fixed in `FeedbackRow::submit` and `account_keys::rotate` used to
/// leave) does not stop the purge of the account's handled feedback: the
/// pass succeeds, the handled item is gone, and the item that does not
/// open is left as it was.
#[actix_web::test]
async fn an_item_that_does_not_open_does_not_stop_the_purge() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let account = app.account_of(&code).await;
        let (keks, now) = (app.state.keks.clone(), app.clock.now());
        let a = account.clone();
        let stray = app
            .state
            .store
            .run(move |conn| {
                let handled = FeedbackRow::submit(conn, &keks, &suggestion(&a), now)?;
                FeedbackRow::mark_handled(conn, handled.as_str(), FeedbackOutcome::Closed, now)?;
                FeedbackRow::insert(conn, &DataKey::generate(), &suggestion(&a), now)
            })
            .await
            .expect("fixture");

        app.clock
            .advance(retention::HANDLED_FEEDBACK + Duration::days(1));
        let data = app.db.dir.path().join("data");
        mestring_server::jobs::run_once(&app.state, 30, &data)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let left = app
            .state
            .store
            .run(move |conn| {
                use diesel::prelude::*;
                use mestring_store::schema::feedback;
                Ok(feedback::table
                    .filter(feedback::account_id.eq(account.as_str()))
                    .select(feedback::id)
                    .load::<String>(conn)?)
            })
            .await
            .expect("read");
        assert_eq!(left, [stray.as_str()], "{backend:?}");
    }
}
