//! Feedback from users: suggested changes (including asking for a wrong
//! registration to be corrected) and the evaluation form.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, SharedKekRing};
use mestring_domain::id::Id;

use crate::account_keys;
use crate::schema::feedback;
use crate::stored_id::StoredId;
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// One piece of feedback.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = feedback)]
pub struct FeedbackRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The account that sent it.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// `suggestion` or `evaluation`.
    pub kind: String,
    /// For suggestions: `content`, `correction` or `other`.
    pub topic: Option<String>,
    /// For evaluations: how helpful (1-5).
    pub helpful: Option<i64>,
    /// For evaluations: how easy to use (1-5).
    pub ease: Option<i64>,
    /// The text written (may be empty for evaluations). Stored sealed
    /// under the account's data key; the loaders below open it.
    pub body: String,
    /// When it was sent.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the operator handled it, if they have.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub handled_at: Option<DateTime<Utc>>,
    outcome: Option<FeedbackOutcome>,
    body_sealed: Option<Vec<u8>>,
}

use account_keys::FEEDBACK_BODY as SEALED_BODY;

/// How many leading characters of a feedback id make its short reference.
/// 8 of the id's 32-symbol alphabet are 40 random bits: two items share a
/// reference about once in a million million pairs, and a lookup that
/// matches more than one says so rather than pick one.
pub const REFERENCE_LEN: usize = 8;

/// How the operator handled a feedback item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum FeedbackOutcome {
    /// A correction was made (`mestring corrections …`).
    Corrected,
    /// Closed without a change (`mestring feedback done`).
    Closed,
}

impl FeedbackOutcome {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Corrected => "corrected",
            Self::Closed => "closed",
        }
    }

    /// Parses a stored word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "corrected" => Some(Self::Corrected),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

text_column!(FeedbackOutcome, "feedback.outcome");

/// What a new piece of feedback needs.
#[derive(Debug)]
pub struct NewFeedback<'a> {
    /// The account.
    pub account: &'a Id,
    /// `suggestion` or `evaluation`.
    pub kind: &'a str,
    /// Topic of a suggestion.
    pub topic: Option<&'a str>,
    /// Helpfulness rating.
    pub helpful: Option<i64>,
    /// Ease-of-use rating.
    pub ease: Option<i64>,
    /// Text.
    pub body: &'a str,
}

/// Opens the sealed text of each row, with the keys of their accounts.
fn open_all(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    mut rows: Vec<FeedbackRow>,
) -> Result<Vec<FeedbackRow>, StoreError> {
    let accounts: Vec<&str> = rows
        .iter()
        .filter(|r| r.body_sealed.is_some())
        .map(|r| r.account_id.as_str())
        .collect();
    let keys = account_keys::for_reading_many(conn, ring, &accounts)?;
    for r in &mut rows {
        if let Some(sealed) = r.body_sealed.take() {
            r.body = account_keys::open_text(
                keys.get(r.account_id.as_str()),
                SEALED_BODY,
                r.id.as_str(),
                &sealed,
            )?;
        }
    }
    Ok(rows)
}

impl FeedbackRow {
    /// The short reference the operator uses (the id's first
    /// [`REFERENCE_LEN`] characters).
    pub fn reference(&self) -> &str {
        self.id
            .as_str()
            .get(..REFERENCE_LEN)
            .unwrap_or(self.id.as_str())
    }

    /// How it was handled, if it was.
    pub fn outcome(&self) -> Option<FeedbackOutcome> {
        self.outcome
    }

    /// `open`, `corrected` or `closed`.
    pub fn status(&self) -> &'static str {
        self.outcome.map_or("open", FeedbackOutcome::as_str)
    }

    /// The items whose id starts with `reference` (at most two are read:
    /// one is an answer, two mean the reference is ambiguous). A reference
    /// that is not made of id symbols matches nothing.
    pub fn find_by_reference(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        reference: &str,
    ) -> Result<Vec<Self>, StoreError> {
        let reference = reference.trim().to_ascii_lowercase();
        if reference.len() < REFERENCE_LEN
            || reference.len() > 26
            || !reference.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Ok(Vec::new());
        }
        account_keys::read_consistently(conn, |conn| {
            let rows = feedback::table
                .filter(feedback::id.like(format!("{reference}%")))
                .order(feedback::id.asc())
                .limit(2)
                .select(Self::as_select())
                .load(conn)?;
            open_all(conn, ring, rows)
        })
    }

    /// Marks the item handled. The first handling sets the time the
    /// retention period counts from; a correction after a close turns the
    /// outcome into `corrected`, a close never undoes a correction.
    pub fn mark_handled(
        conn: &mut DbConn,
        id: &str,
        outcome: FeedbackOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row: Self = feedback::table
            .filter(feedback::id.eq(id))
            .select(Self::as_select())
            .first(conn)?;
        let outcome = match (row.outcome, outcome) {
            (Some(FeedbackOutcome::Corrected), _) => FeedbackOutcome::Corrected,
            (_, new) => new,
        };
        let handled_at = to_db(row.handled_at.unwrap_or(now));
        diesel::update(feedback::table.filter(feedback::id.eq(id)))
            .set((
                feedback::handled_at.eq(Some(handled_at)),
                feedback::outcome.eq(Some(outcome)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes items handled before `cutoff`, text and all, and gives
    /// their senders new data keys (`account_keys::rekey`), so the deleted
    /// texts' bytes left in PostgreSQL pages stop opening once the
    /// key-encryption keys rotate; returns how many went. Runs in one
    /// transaction of its own.
    pub fn purge_handled_before(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        crate::conn::transaction_on(conn, |conn| {
            let due = feedback::table.filter(feedback::handled_at.lt(to_db(cutoff)));
            let mut senders: Vec<String> = due.select(feedback::account_id).load(conn)?;
            senders.sort();
            senders.dedup();
            let n = diesel::delete(due).execute(conn)?;
            let mut keyless = 0usize;
            for account in senders {
                match account_keys::rekey(conn, ring, &Id::from_trusted(account), now) {
                    // The sender's data key opens nowhere (its KEK is
                    // gone): the deleted rows were already unreadable, so
                    // there is no key to replace, and one such account
                    // must not keep everyone's handled feedback stored.
                    Err(StoreError::Sealed(account_keys::WRAPPED_KEY)) => keyless += 1,
                    other => {
                        other?;
                    }
                }
            }
            if keyless > 0 {
                tracing::error!(
                    accounts = keyless,
                    "handled feedback purged from accounts whose data key does not open"
                );
            }
            Ok(n)
        })
    }

    /// Stores feedback from the app, its text sealed under the account's
    /// data key (created if it has none yet), in one transaction of its
    /// own; returns its id.
    ///
    /// The key is read and the row inserted in that one transaction, with
    /// the key row locked ([`account_keys::for_writing`]): a rekey of the
    /// account (the hourly purge of handled feedback, an edited or deleted
    /// registration) either commits first, and this row is sealed under
    /// its new key, or waits and re-seals this row. Read in one trip and
    /// inserted in another, the row could be sealed under a key the rekey
    /// had just replaced and never open again.
    pub fn submit(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        new: &NewFeedback<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        crate::conn::transaction_on(conn, |conn| {
            let key = account_keys::for_writing(conn, ring, new.account, now)?;
            Self::insert(conn, &key, new, now)
        })
    }

    /// Stores feedback, its text sealed under `key` (the account's data
    /// key, read in the same transaction: see [`Self::submit`]); returns
    /// its id.
    pub fn insert(
        conn: &mut DbConn,
        key: &DataKey,
        new: &NewFeedback<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        let sealed = key.seal(SEALED_BODY, id.as_str(), new.body.as_bytes());
        diesel::insert_into(feedback::table)
            .values((
                feedback::id.eq(id.as_str()),
                feedback::account_id.eq(new.account.as_str()),
                feedback::kind.eq(new.kind),
                feedback::topic.eq(new.topic),
                feedback::helpful.eq(new.helpful),
                feedback::ease.eq(new.ease),
                // The clear column stays empty (it predates sealing).
                feedback::body.eq(""),
                feedback::body_sealed.eq(Some(sealed)),
                feedback::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// All feedback, newest first (for the operator).
    pub fn list_all(conn: &mut DbConn, ring: &SharedKekRing) -> Result<Vec<Self>, StoreError> {
        account_keys::read_consistently(conn, |conn| {
            let rows = feedback::table
                .order((feedback::created_at.desc(), feedback::id.asc()))
                .select(Self::as_select())
                .load(conn)?;
            open_all(conn, ring, rows)
        })
    }

    /// The account's feedback, oldest first (for export).
    pub fn list_for_account(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
    ) -> Result<Vec<Self>, StoreError> {
        account_keys::read_consistently(conn, |conn| {
            let rows = feedback::table
                .filter(feedback::account_id.eq(account.as_str()))
                .order((feedback::created_at.asc(), feedback::id.asc()))
                .select(Self::as_select())
                .load(conn)?;
            open_all(conn, ring, rows)
        })
    }

    /// Seals the clear text an older version stored (`body` without
    /// `body_sealed`) and empties the clear column; returns how many rows
    /// it sealed. Run by `mestring migrate` and at start.
    pub fn seal_legacy(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let rows: Vec<(String, String, String)> = feedback::table
            .filter(feedback::body_sealed.is_null())
            .select((feedback::id, feedback::account_id, feedback::body))
            .load(conn)?;
        for (id, account, body) in &rows {
            let key =
                account_keys::for_writing(conn, ring, &Id::from_trusted(account.clone()), now)?;
            let sealed = key.seal(SEALED_BODY, id, body.as_bytes());
            diesel::update(feedback::table.filter(feedback::id.eq(id)))
                .set((
                    feedback::body.eq(""),
                    feedback::body_sealed.eq(Some(sealed)),
                ))
                .execute(conn)?;
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use mestring_crypto::shred::SharedKekRing;
    use mestring_domain::id::Id;

    use super::{FeedbackRow, NewFeedback};
    use crate::conn::transaction_on;
    use crate::schema::accounts;
    use crate::url::DatabaseUrl;
    use crate::{Store, account_keys, to_db};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).expect("a valid time")
    }

    /// A suggestion from `account` (shared with the key tests).
    pub(crate) fn suggestion<'a>(account: &'a Id, body: &'a str) -> NewFeedback<'a> {
        NewFeedback {
            account,
            kind: "suggestion",
            topic: Some("other"),
            helpful: None,
            ease: None,
            body,
        }
    }

    /// A feedback submitted while a rekey of the same account is in flight
    /// (done but not committed) is sealed under the key the account ends
    /// up with: the submit waits for the rekey and then uses its new key.
    /// Read before the rekey committed, the old key would seal a row that
    /// the rekey never saw, and it would never open again.
    fn a_submit_waits_for_a_rekey_in_flight(url: &str) {
        let dir = crate::conn::test_dir("feedback-rekey");
        let store = Store::connect(&DatabaseUrl::parse(url).expect("url"), 4).expect("store");
        store.migrate().expect("migrations");
        let ring = SharedKekRing::open(
            &dir.join("keks"),
            at(0).timestamp(),
            Duration::from_secs(60),
        )
        .expect("ring");
        let account = Id::generate();
        let (acc, r) = (account.clone(), ring.clone());
        store
            .run_blocking(move |conn| {
                diesel::insert_into(accounts::table)
                    .values((
                        accounts::id.eq(acc.as_str()),
                        accounts::code_hash.eq(format!("hash-{}", acc.as_str())),
                        accounts::created_at.eq(to_db(at(0))),
                    ))
                    .execute(conn)?;
                FeedbackRow::submit(conn, &r, &suggestion(&acc, "first"), at(0))
            })
            .expect("first feedback");

        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let writer = {
            let (store, ring, account) = (store.clone(), ring.clone(), account.clone());
            std::thread::spawn(move || {
                ready_rx.recv().expect("the rekey is in flight");
                let stored = store.run_blocking(|conn| {
                    FeedbackRow::submit(conn, &ring, &suggestion(&account, "second"), at(1))
                });
                // Nobody listens any more once the rekey has committed.
                let _ = done_tx.send(());
                stored
            })
        };
        let (acc, r) = (account.clone(), ring.clone());
        store
            .run_blocking(move |conn| {
                transaction_on(conn, |conn| {
                    account_keys::rekey(conn, &r, &acc, at(1))?.expect("a key to replace");
                    ready_tx.send(()).expect("start the submit");
                    // Commit once the submit has finished or is seen
                    // waiting (PostgreSQL), or after a second (SQLite,
                    // where the submit waits for the write lock).
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_secs(10) {
                        match done_rx.recv_timeout(Duration::from_millis(50)) {
                            Err(mpsc::RecvTimeoutError::Timeout) => {}
                            _ => break,
                        }
                        match crate::testing::someone_waits(conn) {
                            Some(true) => break,
                            None if start.elapsed() > Duration::from_secs(1) => break,
                            _ => {}
                        }
                    }
                    Ok(())
                })
            })
            .expect("rekey");
        writer
            .join()
            .expect("the submit thread")
            .expect("the submit");

        let (acc, r) = (account.clone(), ring.clone());
        let mut bodies: Vec<String> = store
            .run_blocking(move |conn| FeedbackRow::list_for_account(conn, &r, &acc))
            .expect("every feedback of the account opens")
            .into_iter()
            .map(|f| f.body)
            .collect();
        bodies.sort();
        assert_eq!(bodies, ["first", "second"]);
        // And the account can be re-keyed again (a row under a lost key
        // would fail this for good).
        let (acc, r) = (account.clone(), ring.clone());
        store
            .run_blocking(move |conn| {
                transaction_on(conn, |conn| account_keys::rekey(conn, &r, &acc, at(2)))
            })
            .expect("another rekey");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_submit_waits_for_a_rekey_in_flight_on_sqlite() {
        let dir = crate::conn::test_dir("feedback-race");
        a_submit_waits_for_a_rekey_in_flight(&format!("sqlite://{}/db.sqlite", dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_submit_waits_for_a_rekey_in_flight_on_postgres() {
        crate::testing::with_postgres_database("mestring_feedback_race", |url| {
            a_submit_waits_for_a_rekey_in_flight(url);
        });
    }
}
