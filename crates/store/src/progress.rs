//! Progress through a program: which steps an account has seen and
//! completed, and the account's choice of program.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::content::StepId;
use mestring_domain::id::Id;

use crate::schema::accounts;
use crate::schema::step_progress;
use crate::stored_id::StoredId;
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// What an account has done in one program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramProgress {
    /// The steps completed.
    pub completed: BTreeSet<StepId>,
    /// When the account first opened any step: the start of the program
    /// for the measurement schedule. `None` before the first step.
    pub started_at: Option<DateTime<Utc>>,
}

/// One step of one program for one account: first seen, maybe completed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = step_progress)]
pub struct ProgressRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// The program the step belongs to.
    pub program_slug: String,
    /// The step (unique within its program).
    pub step_id: String,
    /// When the step was first opened.
    #[diesel(deserialize_as = StoredTime)]
    pub first_seen_at: DateTime<Utc>,
    /// When the step was completed, if it was.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl ProgressRow {
    fn find(
        conn: &mut DbConn,
        account: &Id,
        program: &str,
        step: &str,
    ) -> Result<Option<Self>, StoreError> {
        step_progress::table
            .filter(step_progress::account_id.eq(account.as_str()))
            .filter(step_progress::program_slug.eq(program))
            .filter(step_progress::step_id.eq(step))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    fn insert(
        conn: &mut DbConn,
        account: &Id,
        program: &str,
        step: &str,
        now: DateTime<Utc>,
        completed: bool,
    ) -> Result<(), StoreError> {
        // A savepoint: when the caller holds a transaction (a questionnaire
        // that completes its step), a lost race must not abort it on
        // PostgreSQL, where any failed statement does.
        let result = conn.transaction(|conn| {
            diesel::insert_into(step_progress::table)
                .values((
                    step_progress::id.eq(Id::generate().as_str()),
                    step_progress::account_id.eq(account.as_str()),
                    step_progress::program_slug.eq(program),
                    step_progress::step_id.eq(step),
                    step_progress::first_seen_at.eq(to_db(now)),
                    step_progress::completed_at.eq(completed.then(|| to_db(now))),
                ))
                .execute(conn)
                .map_err(StoreError::from)
        });
        match result {
            // Two requests raced to create the row; the other one won,
            // which is just as good for "seen" (and `mark_completed`
            // completes the winner's row).
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records that the account opened `step` (only the first time counts).
    pub fn mark_seen(
        conn: &mut DbConn,
        account: &Id,
        program: &str,
        step: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if Self::find(conn, account, program, step)?.is_none() {
            Self::insert(conn, account, program, step, now, false)?;
        }
        Ok(())
    }

    /// Records that the account completed `step`; completing twice keeps
    /// the first time.
    pub fn mark_completed(
        conn: &mut DbConn,
        account: &Id,
        program: &str,
        step: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match Self::find(conn, account, program, step)? {
            None => {
                Self::insert(conn, account, program, step, now, true)?;
                // Lost a race against `mark_seen`: complete the row it made.
                diesel::update(
                    step_progress::table
                        .filter(step_progress::account_id.eq(account.as_str()))
                        .filter(step_progress::program_slug.eq(program))
                        .filter(step_progress::step_id.eq(step))
                        .filter(step_progress::completed_at.is_null()),
                )
                .set(step_progress::completed_at.eq(Some(to_db(now))))
                .execute(conn)?;
            }
            Some(row) if row.completed_at.is_none() => {
                diesel::update(step_progress::table.find(row.id.as_str()))
                    .set(step_progress::completed_at.eq(Some(to_db(now))))
                    .execute(conn)?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// What the account has done in `program`: the steps completed and
    /// when it first opened one. One statement for both (on PostgreSQL
    /// each statement is a network round trip).
    pub fn in_program(
        conn: &mut DbConn,
        account: &Id,
        program: &str,
    ) -> Result<ProgramProgress, StoreError> {
        let rows: Vec<(String, StoredTime, StoredOptionalTime)> = step_progress::table
            .filter(step_progress::account_id.eq(account.as_str()))
            .filter(step_progress::program_slug.eq(program))
            .select((
                step_progress::step_id,
                step_progress::first_seen_at,
                step_progress::completed_at,
            ))
            .load(conn)?;
        let mut progress = ProgramProgress::default();
        for (step, first_seen, completed) in rows {
            let first_seen = DateTime::from(first_seen);
            if progress.started_at.is_none_or(|start| first_seen < start) {
                progress.started_at = Some(first_seen);
            }
            if Option::<DateTime<Utc>>::from(completed).is_some() {
                progress.completed.insert(StepId::new(step));
            }
        }
        Ok(progress)
    }

    /// Every progress row of the account, oldest first (for clinician
    /// views and export).
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        step_progress::table
            .filter(step_progress::account_id.eq(account.as_str()))
            .order((step_progress::first_seen_at.asc(), step_progress::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }
}

/// Sets the account's program when it has none yet (the demo account, or
/// a code issued without a program). A program chosen by the issuing
/// organisation is never replaced. Returns whether the choice was stored.
pub fn choose_program(conn: &mut DbConn, account: &Id, slug: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        accounts::table
            .find(account.as_str())
            .filter(accounts::program_slug.is_null()),
    )
    .set(accounts::program_slug.eq(Some(slug)))
    .execute(conn)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {

    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use mestring_domain::id::Id;

    use super::ProgressRow;
    use crate::conn::transaction_on;
    use crate::schema::accounts;
    use crate::{DatabaseUrl, Store, to_db};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).expect("a valid time")
    }

    /// Stores a bare account for progress rows to belong to.
    fn insert_account(conn: &mut crate::DbConn, id: &Id) -> Result<(), crate::StoreError> {
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(id.as_str()),
                accounts::code_hash.eq("hash"),
                accounts::created_at.eq(to_db(at(0))),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// One statement gives both what the home page needs: the steps
    /// completed in this program only, and the earliest first opening of
    /// any of its steps, whatever order the rows were written in.
    #[test]
    fn in_program_gives_the_completed_steps_and_the_first_opening() {
        let dir = crate::conn::test_dir("progress-in-program");
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        let store = Store::connect(&DatabaseUrl::parse(&url).expect("url"), 2).expect("store");
        store.migrate().expect("migrations");
        let account = Id::generate();
        let progress = store
            .run_blocking(move |conn| {
                insert_account(conn, &account)?;
                let before = ProgressRow::in_program(conn, &account, "p")?;
                ProgressRow::mark_seen(conn, &account, "p", "later", at(50))?;
                ProgressRow::mark_completed(conn, &account, "p", "earlier", at(60))?;
                ProgressRow::mark_seen(conn, &account, "p", "open", at(70))?;
                ProgressRow::mark_seen(conn, &account, "other", "x", at(5))?;
                ProgressRow::mark_completed(conn, &account, "other", "x", at(6))?;
                diesel::update(
                    crate::schema::step_progress::table
                        .filter(crate::schema::step_progress::step_id.eq("earlier")),
                )
                .set(crate::schema::step_progress::first_seen_at.eq(to_db(at(10))))
                .execute(conn)?;
                Ok((before, ProgressRow::in_program(conn, &account, "p")?))
            })
            .expect("progress");
        let (before, after) = progress;
        assert_eq!(before, super::ProgramProgress::default());
        assert_eq!(after.started_at, Some(at(10)), "the earliest opening");
        let completed: Vec<&str> = after.completed.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            completed,
            ["earlier"],
            "only this program's completed steps"
        );
    }

    /// A step completed inside the questionnaire's transaction while
    /// another request (opening the step) creates its row: the completing
    /// insert loses the race on PostgreSQL. The step ends completed and
    /// the questionnaire's transaction commits; before, the failed insert
    /// aborted the transaction and the answer was lost with a 500.
    #[test]
    fn completing_a_step_whose_row_another_request_creates_on_postgres() {
        crate::testing::with_postgres_database("mestring_progress_race", |url| {
            let store = Store::connect(&DatabaseUrl::parse(url).expect("url"), 4).expect("store");
            store.migrate().expect("migrations");
            let account = Id::generate();
            let acc = account.clone();
            store
                .run_blocking(move |conn| insert_account(conn, &acc))
                .expect("account");

            let (acc, account2) = (account.clone(), account.clone());
            let (opened, completed) = crate::testing::while_held(
                &store,
                move |conn| ProgressRow::mark_seen(conn, &acc, "p", "s", at(1)),
                move |conn| {
                    transaction_on(conn, |conn| {
                        ProgressRow::mark_completed(conn, &account2, "p", "s", at(2))?;
                        // The rest of the questionnaire's transaction.
                        ProgressRow::mark_seen(conn, &account2, "p", "next", at(2))
                    })
                },
            );
            opened.expect("the step opened");
            completed.expect("the questionnaire's transaction commits");
            let acc = account.clone();
            let rows = store
                .run_blocking(move |conn| ProgressRow::list_for_account(conn, &acc))
                .expect("progress");
            let step = rows
                .iter()
                .find(|r| r.step_id == "s")
                .expect("the step's row");
            assert_eq!(step.completed_at, Some(at(2)), "completed");
            assert!(
                rows.iter().any(|r| r.step_id == "next"),
                "the rest committed"
            );
            drop(store);
        });
    }
}
