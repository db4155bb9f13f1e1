//! The hourly sweep (`jobs::run_once`): a step that keeps failing does not
//! stop the steps after it.

use chrono::Duration;
use mestring_crypto::shred::{DataKey, KekRing};
use mestring_domain::clock::Clock;
use mestring_domain::policy::retention;
use mestring_store::account_keys;
use mestring_store::feedback::{FeedbackOutcome, FeedbackRow, NewFeedback};

use crate::helpers::{TestApp, backends};

/// The newest key-encryption key on disk.
fn current_kek(app: &TestApp) -> u32 {
    KekRing::load(&app.db.dir.path().join("data").join("data-keys"))
        .expect("ring")
        .current()
        .expect("a KEK")
        .0
}

/// A feedback item sealed under a key its account does not have (what the
/// races fixed in `FeedbackRow::submit` and `account_keys::rotate` used to
/// leave) makes the purge of the account's handled feedback fail on every
/// pass: the rekey after it cannot re-seal that item. The pass still rotates the key-encryption
/// keys (and runs its other steps), and says which step failed.
#[actix_web::test]
async fn a_step_that_keeps_failing_does_not_stop_key_rotation() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let account = app.account_of(&code).await;
        let (keks, now) = (app.state.keks.clone(), app.clock.now());
        app.state
            .store
            .run(move |conn| {
                let new = NewFeedback {
                    account: &account,
                    kind: "suggestion",
                    topic: Some("other"),
                    helpful: None,
                    ease: None,
                    body: "sealed under a key nobody has",
                };
                // A handled item (its purge re-keys the account), and an
                // open one sealed under another key than the account's,
                // which that rekey cannot open.
                let handled = FeedbackRow::submit(conn, &keks, &new, now)?;
                FeedbackRow::mark_handled(conn, handled.as_str(), FeedbackOutcome::Closed, now)?;
                FeedbackRow::insert(conn, &DataKey::generate(), &new, now)?;
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
        let err = pass.expect_err("the purge cannot re-key the account");
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
