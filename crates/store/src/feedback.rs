//! Feedback from users: suggested changes (including asking for a wrong
//! registration to be corrected) and the evaluation form.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, SharedKekRing};
use mestring_domain::id::Id;

use crate::account_keys;
use crate::schema_program::feedback;
use crate::{DbConn, StoreError, from_db, to_db};

/// One piece of feedback.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = feedback)]
pub struct FeedbackRow {
    /// Random id.
    pub id: String,
    /// The account that sent it.
    pub account_id: String,
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
    created_at: NaiveDateTime,
    handled_at: Option<NaiveDateTime>,
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
            r.body = account_keys::open_text(keys.get(&r.account_id), SEALED_BODY, &r.id, &sealed)?;
        }
    }
    Ok(rows)
}

impl FeedbackRow {
    /// When it was sent.
    pub fn created_at(&self) -> DateTime<Utc> {
        from_db(self.created_at)
    }

    /// The short reference the operator uses (the id's first
    /// [`REFERENCE_LEN`] characters).
    pub fn reference(&self) -> &str {
        self.id.get(..REFERENCE_LEN).unwrap_or(&self.id)
    }

    /// When the operator handled it, if they have.
    pub fn handled_at(&self) -> Option<DateTime<Utc>> {
        self.handled_at.map(from_db)
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
        let handled_at = row.handled_at.unwrap_or(to_db(now));
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
            for account in senders {
                account_keys::rekey(conn, ring, &Id::from_trusted(account), now)?;
            }
            Ok(n)
        })
    }

    /// Stores feedback, its text sealed under `key` (the account's data
    /// key); returns its id.
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
