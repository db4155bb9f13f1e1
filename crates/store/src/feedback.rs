//! Feedback from users: suggested changes (including asking for a wrong
//! registration to be corrected) and the evaluation form.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;

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
    /// The text written (may be empty for evaluations).
    pub body: String,
    created_at: NaiveDateTime,
}

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

impl FeedbackRow {
    /// When it was sent.
    pub fn created_at(&self) -> DateTime<Utc> {
        from_db(self.created_at)
    }

    /// Stores feedback; returns its id.
    pub fn insert(
        conn: &mut DbConn,
        new: &NewFeedback<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(feedback::table)
            .values((
                feedback::id.eq(id.as_str()),
                feedback::account_id.eq(new.account.as_str()),
                feedback::kind.eq(new.kind),
                feedback::topic.eq(new.topic),
                feedback::helpful.eq(new.helpful),
                feedback::ease.eq(new.ease),
                feedback::body.eq(new.body),
                feedback::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// All feedback, newest first (for the operator).
    pub fn list_all(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        feedback::table
            .order((feedback::created_at.desc(), feedback::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// The account's feedback, oldest first (for export).
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        feedback::table
            .filter(feedback::account_id.eq(account.as_str()))
            .order((feedback::created_at.asc(), feedback::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }
}
