//! Tests of [`crate::account_keys`] that put sealed feedback rows under
//! the keys: apart from that module so that it does not depend on
//! `feedback`, which depends on it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mestring_crypto::shred::{SharedKekRing, wrapped_kek_id};
use mestring_domain::id::Id;
use mestring_domain::policy::shredding;

use crate::DbConn;
use crate::account_keys::{Rotation, rekey, rewrap_batch, rotate, stale_batch, wrapped_of};
use crate::conn::transaction_on;
use crate::feedback::FeedbackRow;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + secs, 0).expect("a valid time")
}

fn write_feedback(conn: &mut DbConn, ring: &SharedKekRing, account: &Id, body: &str) {
    let new = crate::feedback::tests::suggestion(account, body);
    FeedbackRow::submit(conn, ring, &new, at(0)).expect("feedback stored");
}

fn bodies(conn: &mut DbConn, ring: &SharedKekRing, account: &Id) -> Vec<String> {
    FeedbackRow::list_for_account(conn, ring, account)
        .expect("the account's feedback opens")
        .into_iter()
        .map(|f| f.body)
        .collect()
}

fn kek_of(conn: &mut DbConn, account: &Id) -> Option<u32> {
    wrapped_of(conn, account)
        .expect("read")
        .and_then(|w| wrapped_kek_id(&w))
}

/// A rotation that read a batch of keys, then met a rekey of one of
/// them by a process whose ring was up to a minute stale (so the new
/// data key is wrapped under the old KEK, like the one read), must
/// not write the old data key back over the new one: everything the
/// rekey re-sealed would never open again. The row is skipped and
/// counted, the rest of the batch is re-wrapped, and the next pass
/// re-wraps the skipped row, after which the old KEK can go.
#[test]
fn rotation_does_not_revert_a_rekey_that_came_between_read_and_update() {
    let dir = crate::conn::test_dir("rotate-cas");
    let hour = Duration::from_secs(3600);
    // The rotating process, and another whose ring was read before
    // the rotation and is not re-read yet.
    let ring = SharedKekRing::open(&dir, at(0).timestamp(), hour).expect("ring");
    let stale = SharedKekRing::open(&dir, at(0).timestamp(), hour).expect("second ring");
    let mut conn = crate::conn::memory_db();
    let (raced, calm) = (Id::generate(), Id::generate());
    write_feedback(&mut conn, &ring, &raced, "raced text");
    write_feedback(&mut conn, &ring, &calm, "calm text");
    assert_eq!(kek_of(&mut conn, &raced), Some(1));

    // A new KEK takes over; the pass reads the keys still under KEK 1.
    let created = at(shredding::ROTATE_EVERY.num_seconds());
    ring.reload()
        .expect("reload")
        .create_next(created.timestamp())
        .expect("new KEK");
    let snapshot = ring.reload().expect("reload");
    let batch = stale_batch(&mut conn, 2, "").expect("batch");
    assert_eq!(batch.len(), 2);

    // Before the pass updates them, the other process re-keys one
    // account: a new data key, still wrapped under KEK 1.
    transaction_on(&mut conn, |conn| rekey(conn, &stale, &raced, created))
        .expect("rekey")
        .expect("the account had a key");
    assert_eq!(kek_of(&mut conn, &raced), Some(1));

    let mut report = Rotation::default();
    rewrap_batch(&mut conn, &snapshot, &batch, &mut report).expect("re-wrap");
    // What the rekey re-sealed still opens: the old data key was not
    // written back over the new one.
    assert_eq!(bodies(&mut conn, &ring, &raced), ["raced text"]);
    assert_eq!(bodies(&mut conn, &ring, &calm), ["calm text"]);
    assert_eq!(
        kek_of(&mut conn, &raced),
        Some(1),
        "the re-keyed row is left as the rekey wrote it"
    );
    assert_eq!(kek_of(&mut conn, &calm), Some(2));
    assert_eq!(
        (report.rewrapped, report.raced, report.unopenable),
        (1, 1, 0),
        "{report:?}"
    );

    // The next pass re-wraps it; KEK 1 is not destroyed while it was
    // still in use, and goes once its grace has passed.
    let report = rotate(&mut conn, &ring, created, false).expect("next pass");
    assert_eq!(
        (report.rewrapped, report.raced, report.destroyed.len()),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(kek_of(&mut conn, &raced), Some(2));
    assert_eq!(bodies(&mut conn, &ring, &raced), ["raced text"]);
    let later = created + shredding::RETIRED_GRACE + chrono::Duration::minutes(1);
    let report = rotate(&mut conn, &ring, later, false).expect("after the grace");
    assert_eq!(report.destroyed, [1], "{report:?}");
    assert_eq!(bodies(&mut conn, &ring, &raced), ["raced text"]);
    assert_eq!(bodies(&mut conn, &ring, &calm), ["calm text"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A data key is handed out for writing only inside a transaction:
/// outside one, the lock that keeps a rekey from replacing it before
/// the sealed value is stored would not be held.
#[test]
fn a_key_for_writing_needs_a_transaction() {
    let dir = crate::conn::test_dir("key-txn");
    let ring = SharedKekRing::open(&dir, at(0).timestamp(), Duration::from_secs(60)).expect("ring");
    let mut conn = crate::conn::memory_db();
    let account = Id::generate();
    let outside = crate::account_keys::for_writing(&mut conn, &ring, &account, at(0));
    assert!(
        matches!(
            outside,
            Err(crate::StoreError::Query(
                diesel::result::Error::NotInTransaction
            ))
        ),
        "{outside:?}"
    );
    let outside = rekey(&mut conn, &ring, &account, at(0));
    assert!(outside.is_err(), "{outside:?}");
    transaction_on(&mut conn, |conn| {
        crate::account_keys::for_writing(conn, &ring, &account, at(0))
    })
    .expect("inside a transaction");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The feedback rows of `account`: (id, sealed body).
fn sealed_feedback(conn: &mut DbConn, account: &Id) -> Vec<(String, Vec<u8>)> {
    use crate::schema::feedback;
    use diesel::prelude::*;
    feedback::table
        .filter(feedback::account_id.eq(account.as_str()))
        .select((feedback::id, feedback::body_sealed.assume_not_null()))
        .order(feedback::id.asc())
        .load(conn)
        .expect("read")
}

/// Flips the last byte of a sealed feedback body, as a disk or a hand
/// edit might: the value no longer opens under any key.
fn alter_feedback(conn: &mut DbConn, id: &str, sealed: &[u8]) {
    use crate::schema::feedback;
    use diesel::prelude::*;
    let mut altered = sealed.to_vec();
    if let Some(last) = altered.last_mut() {
        *last ^= 1;
    }
    diesel::update(feedback::table.filter(feedback::id.eq(id)))
        .set(feedback::body_sealed.eq(Some(altered)))
        .execute(conn)
        .expect("altered");
}

/// A value that does not open under its account's key does not stop a
/// rekey (which would keep the user from editing or deleting anything
/// else): it is left as it was, and every other value is re-sealed under
/// the new key.
#[test]
fn a_value_that_does_not_open_is_left_as_it_is_and_the_rekey_goes_on() {
    let dir = crate::conn::test_dir("rekey-unopenable");
    let ring = SharedKekRing::open(&dir, at(0).timestamp(), Duration::from_secs(60)).expect("ring");
    let mut conn = crate::conn::memory_db();
    let account = Id::generate();
    write_feedback(&mut conn, &ring, &account, "first text");
    write_feedback(&mut conn, &ring, &account, "second text");
    let before = sealed_feedback(&mut conn, &account);
    let (bad_id, bad_sealed) = before[0].clone();
    alter_feedback(&mut conn, &bad_id, &bad_sealed);
    let altered = sealed_feedback(&mut conn, &account)[0].1.clone();

    let new = transaction_on(&mut conn, |conn| rekey(conn, &ring, &account, at(1)))
        .expect("the rekey goes on")
        .expect("the account had a key");

    let after = sealed_feedback(&mut conn, &account);
    assert_eq!(
        after[0].1, altered,
        "the unopenable value is left as it was"
    );
    assert!(
        new.open(crate::account_keys::FEEDBACK_BODY, &after[0].0, &after[0].1)
            .is_none()
    );
    let good = new
        .open(crate::account_keys::FEEDBACK_BODY, &after[1].0, &after[1].1)
        .expect("the other value is sealed under the new key");
    let good = String::from_utf8(good).expect("text");
    assert!(
        ["first text", "second text"].contains(&good.as_str()),
        "{good}"
    );
    assert_ne!(after[1].1, before[1].1, "and was re-sealed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One sender whose data key opens nowhere (its wrapped copy altered, or
/// its KEK lost) does not keep the hourly purge from removing anyone's
/// handled feedback: the purge goes on, and the other senders are
/// re-keyed.
#[test]
fn the_purge_goes_on_past_a_sender_whose_key_does_not_open() {
    use crate::feedback::FeedbackOutcome;
    use crate::schema::account_keys;
    use diesel::prelude::*;
    let dir = crate::conn::test_dir("purge-keyless");
    let ring = SharedKekRing::open(&dir, at(0).timestamp(), Duration::from_secs(60)).expect("ring");
    let mut conn = crate::conn::memory_db();
    let (keyless, other) = (Id::generate(), Id::generate());
    for account in [&keyless, &other] {
        write_feedback(&mut conn, &ring, account, "handled text");
        for (id, _) in sealed_feedback(&mut conn, account) {
            FeedbackRow::mark_handled(&mut conn, &id, FeedbackOutcome::Closed, at(1))
                .expect("handled");
        }
    }
    let mut wrapped = wrapped_of(&mut conn, &keyless)
        .expect("read")
        .expect("a key");
    if let Some(last) = wrapped.last_mut() {
        *last ^= 1;
    }
    diesel::update(account_keys::table.find(keyless.as_str()))
        .set(account_keys::wrapped.eq(&wrapped))
        .execute(&mut conn)
        .expect("altered");
    let other_before = wrapped_of(&mut conn, &other).expect("read");

    let purged = FeedbackRow::purge_handled_before(&mut conn, &ring, at(10), at(10))
        .expect("the purge goes on");

    assert_eq!(purged, 2);
    assert!(sealed_feedback(&mut conn, &keyless).is_empty());
    assert!(sealed_feedback(&mut conn, &other).is_empty());
    assert_ne!(
        wrapped_of(&mut conn, &other).expect("read"),
        other_before,
        "the other sender's key was replaced"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
