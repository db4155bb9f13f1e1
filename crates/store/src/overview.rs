//! What the clinician's overview shows of users who share with the
//! organisation, read for many accounts at once. Only reachable through
//! [`crate::consent::read_shared_accounts`], which passes the accounts that
//! share right now and no others.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::accounts::AccountRow;
use crate::responses::ResponseRow;
use crate::schema_program::{questionnaire_responses, registration_entries, step_progress};
use crate::{DbConn, StoreError, from_db, to_db};

/// The overview's raw data about one sharing account.
#[derive(Debug, Clone)]
pub struct SharedSummaryRows {
    /// The account.
    pub account: AccountRow,
    /// Its answers that were not voided, oldest first.
    pub responses: Vec<ResponseRow>,
    /// Steps completed: (program, step, when).
    pub completed_steps: Vec<(String, String, DateTime<Utc>)>,
    /// Registrations made since the cut-off the caller gave.
    pub recent_registrations: usize,
    /// When the latest registration was made.
    pub last_registration: Option<DateTime<Utc>>,
}

/// Loads [`SharedSummaryRows`] for `accounts` in a few queries (one per
/// table, not one per account); registrations are counted from `since`.
/// Call only with accounts that share (see
/// [`crate::consent::read_shared_accounts`]).
pub fn summary_rows(
    conn: &mut DbConn,
    accounts: &[AccountRow],
    since: DateTime<Utc>,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let mut out: Vec<SharedSummaryRows> = accounts
        .iter()
        .map(|a| SharedSummaryRows {
            account: a.clone(),
            responses: Vec::new(),
            completed_steps: Vec::new(),
            recent_registrations: 0,
            last_registration: None,
        })
        .collect();
    let index: HashMap<String, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    for chunk in accounts.chunks(crate::consent::MAX_IDS_PER_QUERY) {
        let ids: Vec<&str> = chunk.iter().map(|a| a.id.as_str()).collect();
        let responses: Vec<ResponseRow> = questionnaire_responses::table
            .filter(questionnaire_responses::account_id.eq_any(&ids))
            .filter(questionnaire_responses::voided_at.is_null())
            .order((
                questionnaire_responses::completed_at.asc(),
                questionnaire_responses::id.asc(),
            ))
            .select(ResponseRow::as_select())
            .load(conn)?;
        for r in responses {
            if let Some(&i) = index.get(&r.account_id) {
                out[i].responses.push(r);
            }
        }
        let steps: Vec<(String, String, String, Option<NaiveDateTime>)> = step_progress::table
            .filter(step_progress::account_id.eq_any(&ids))
            .filter(step_progress::completed_at.is_not_null())
            .select((
                step_progress::account_id,
                step_progress::program_slug,
                step_progress::step_id,
                step_progress::completed_at,
            ))
            .load(conn)?;
        for (account, program, step, at) in steps {
            if let (Some(&i), Some(at)) = (index.get(&account), at) {
                out[i].completed_steps.push((program, step, from_db(at)));
            }
        }
        // Counted and maxed in the database: registrations pile up over
        // the years, and only two numbers per account are needed.
        let latest: Vec<(String, Option<NaiveDateTime>)> = registration_entries::table
            .filter(registration_entries::account_id.eq_any(&ids))
            .group_by(registration_entries::account_id)
            .select((
                registration_entries::account_id,
                diesel::dsl::max(registration_entries::created_at),
            ))
            .load(conn)?;
        for (account, at) in latest {
            if let Some(&i) = index.get(&account) {
                out[i].last_registration = at.map(from_db);
            }
        }
        let recent: Vec<(String, i64)> = registration_entries::table
            .filter(registration_entries::account_id.eq_any(&ids))
            .filter(registration_entries::created_at.ge(to_db(since)))
            .group_by(registration_entries::account_id)
            .select((registration_entries::account_id, diesel::dsl::count_star()))
            .load(conn)?;
        for (account, n) in recent {
            if let Some(&i) = index.get(&account) {
                out[i].recent_registrations = usize::try_from(n).unwrap_or(0);
            }
        }
    }
    Ok(out)
}
