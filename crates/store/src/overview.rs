//! What the clinician's overview shows of users who share with the
//! organisation, read for many accounts at once. Only reachable through
//! [`crate::consent::read_shared_accounts`], which passes the accounts that
//! share right now and no others.

use mestring_domain::id::Id;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::schema::accounts;
use crate::schema::{
    measure_summaries, questionnaire_responses, registration_entries, step_progress,
};
use crate::stored_id::StoredId;
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// One questionnaire answer as the overview needs it (no answers, no
/// step, one timestamp: loading thousands of these must stay cheap).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = questionnaire_responses)]
pub struct Measurement {
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// `phq9`, `gad7`, …
    pub questionnaire_id: String,
    /// The total.
    pub total: i64,
    /// The band the total fell in.
    pub band_id: String,
    flags: String,
    /// When it was answered.
    #[diesel(deserialize_as = StoredTime)]
    pub completed_at: DateTime<Utc>,
}

impl Measurement {
    /// Whether flag `id` was raised.
    pub fn has_flag(&self, id: &str) -> bool {
        self.flags.split_whitespace().any(|f| f == id)
    }

    /// The total as a `u32` (stored totals are never negative).
    pub fn total_u32(&self) -> u32 {
        u32::try_from(self.total).unwrap_or(0)
    }
}

/// One account's answers to one questionnaire in one row (see the
/// migration that makes `measure_summaries`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = measure_summaries)]
pub struct MeasureSummary {
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// `phq9`, …
    pub questionnaire_id: String,
    /// The first total not voided.
    pub first_total: i64,
    /// The latest total not voided.
    pub latest_total: i64,
    /// Its band.
    pub latest_band: String,
    latest_flags: String,
    /// How many answers were not voided.
    pub answers: i64,
    /// When the latest answer was given.
    #[diesel(deserialize_as = StoredTime)]
    pub latest_at: DateTime<Utc>,
}

impl MeasureSummary {
    /// Whether the latest answer raised flag `id`.
    pub fn latest_has_flag(&self, id: &str) -> bool {
        self.latest_flags.split_whitespace().any(|f| f == id)
    }
}

/// Makes concurrent answers of one account take turns at its summary rows
/// until the caller's transaction ends. On PostgreSQL (read committed) two
/// answers given at once would otherwise both read the row as it was:
/// both insert a first row (one fails on the key), or the earlier answer
/// overwrites the later as the latest. Locking the account row first
/// (`FOR NO KEY UPDATE`) makes the second wait and then read what the
/// first wrote. On SQLite the transaction already holds the database's
/// one write lock.
fn lock_account(conn: &mut DbConn, account: &str) -> Result<(), StoreError> {
    if let DbConn::Pg(pg) = conn {
        accounts::table
            .find(account)
            .select(accounts::id)
            // Not FOR UPDATE: the answer's own insert already holds a KEY
            // SHARE lock on the row (its foreign key), and two answers
            // each holding one while asking for FOR UPDATE would
            // deadlock. NO KEY UPDATE conflicts with itself only.
            .for_no_key_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// Brings `account`'s row for `questionnaire` up to date with one new
/// answer (`total`, `band`, `flags`) given at `at` and already inserted,
/// without reading the account's other answers, so an answer costs the
/// same however many came before. When `at` is later than the stored
/// latest answer, the new one is the latest and the first is unchanged;
/// when there is no row, it is the only one; when it falls between the
/// first and the latest, only the count changes. Anything else (an answer
/// older than every other, or two answers in the same instant, ordered by
/// id) is recomputed in full by [`refresh_measure`]. Called in the
/// transaction of the answer.
pub fn add_to_measure(
    conn: &mut DbConn,
    account: &str,
    questionnaire: &str,
    (total, band, flags): (i64, &str, &str),
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    lock_account(conn, account)?;
    let stored: Option<DateTime<Utc>> = measure_summaries::table
        .find((account, questionnaire))
        .select(measure_summaries::latest_at)
        .first::<StoredTime>(conn)
        .optional()?
        .map(Into::into);
    // An answer whose time was taken before that of one committed ahead
    // of it (common when answers arrive at once: the time is taken before
    // the transaction waits for its turn) is neither the latest nor, when
    // an earlier answer exists, the first: only the count changes. One
    // index probe, where a full recompute reads every answer.
    let between = match stored {
        Some(latest) if at < latest => diesel::select(diesel::dsl::exists(
            questionnaire_responses::table
                .filter(questionnaire_responses::account_id.eq(account))
                .filter(questionnaire_responses::questionnaire_id.eq(questionnaire))
                .filter(questionnaire_responses::voided_at.is_null())
                .filter(questionnaire_responses::completed_at.lt(to_db(at))),
        ))
        .get_result::<bool>(conn)?,
        _ => false,
    };
    match stored {
        Some(_) if between => {
            diesel::update(measure_summaries::table.find((account, questionnaire)))
                .set(measure_summaries::answers.eq(measure_summaries::answers + 1))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(measure_summaries::table)
                .values((
                    measure_summaries::account_id.eq(account),
                    measure_summaries::questionnaire_id.eq(questionnaire),
                    measure_summaries::first_total.eq(total),
                    measure_summaries::latest_total.eq(total),
                    measure_summaries::latest_band.eq(band),
                    measure_summaries::latest_flags.eq(flags),
                    measure_summaries::answers.eq(1),
                    measure_summaries::latest_at.eq(to_db(at)),
                ))
                .execute(conn)?;
        }
        Some(latest) if at > latest => {
            diesel::update(measure_summaries::table.find((account, questionnaire)))
                .set((
                    measure_summaries::latest_total.eq(total),
                    measure_summaries::latest_band.eq(band),
                    measure_summaries::latest_flags.eq(flags),
                    measure_summaries::answers.eq(measure_summaries::answers + 1),
                    measure_summaries::latest_at.eq(to_db(at)),
                ))
                .execute(conn)?;
        }
        Some(_) => refresh_measure(conn, account, questionnaire)?,
    }
    Ok(())
}

/// Recomputes `account`'s row for `questionnaire` from its answers that
/// were not voided (none: no row). Called in the transaction of every
/// answer and every voiding, so the row never disagrees with them.
pub fn refresh_measure(
    conn: &mut DbConn,
    account: &str,
    questionnaire: &str,
) -> Result<(), StoreError> {
    lock_account(conn, account)?;
    let rows: Vec<(i64, String, String, NaiveDateTime)> = questionnaire_responses::table
        .filter(questionnaire_responses::account_id.eq(account))
        .filter(questionnaire_responses::questionnaire_id.eq(questionnaire))
        .filter(questionnaire_responses::voided_at.is_null())
        .order((
            questionnaire_responses::completed_at.asc(),
            questionnaire_responses::id.asc(),
        ))
        .select((
            questionnaire_responses::total,
            questionnaire_responses::band_id,
            questionnaire_responses::flags,
            questionnaire_responses::completed_at,
        ))
        .load(conn)?;
    diesel::delete(
        measure_summaries::table
            .filter(measure_summaries::account_id.eq(account))
            .filter(measure_summaries::questionnaire_id.eq(questionnaire)),
    )
    .execute(conn)?;
    let (Some(first), Some(latest)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    diesel::insert_into(measure_summaries::table)
        .values((
            measure_summaries::account_id.eq(account),
            measure_summaries::questionnaire_id.eq(questionnaire),
            measure_summaries::first_total.eq(first.0),
            measure_summaries::latest_total.eq(latest.0),
            measure_summaries::latest_band.eq(&latest.1),
            measure_summaries::latest_flags.eq(&latest.2),
            measure_summaries::answers.eq(i64::try_from(rows.len()).unwrap_or(i64::MAX)),
            measure_summaries::latest_at.eq(latest.3),
        ))
        .execute(conn)?;
    Ok(())
}

/// The columns of a sharing account the overview needs (not its code
/// hash or sealed pseudonym: thousands of these are read per request).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct SharedAccount {
    /// Id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// Program.
    pub program_slug: Option<String>,
    /// When the code was issued.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// The latest login.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub last_login_at: Option<DateTime<Utc>>,
}

/// The overview's raw data about one sharing account.
#[derive(Debug, Clone)]
pub struct SharedSummaryRows {
    /// The account.
    pub account: SharedAccount,
    /// One row per questionnaire answered.
    pub measures: Vec<MeasureSummary>,
    /// Its answers that were not voided, oldest first (only when
    /// [`Wanted::answers`]).
    pub responses: Vec<Measurement>,
    /// Steps completed: (program, step); `None` when not asked for.
    pub completed_steps: Option<Vec<(String, String)>>,
    /// When the latest step was completed.
    pub last_step: Option<DateTime<Utc>>,
    /// Registrations made since the cut-off the caller gave.
    pub recent_registrations: usize,
    /// When the latest registration was made.
    pub last_registration: Option<DateTime<Utc>>,
}

/// Which parts of [`SharedSummaryRows`] to load: a filter or a sort over
/// every sharing user needs only some, and each part costs a query over
/// all of them; the rows shown need all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The one-row-per-questionnaire summaries.
    pub measurements: bool,
    /// Every answer (the journal summary's table).
    pub answers: bool,
    /// The latest registration and completed step (for "last activity").
    pub activity: bool,
    /// The completed steps (for modules completed).
    pub steps: bool,
    /// Registrations since the cut-off.
    pub recent: bool,
}

impl Wanted {
    /// Everything.
    pub const ALL: Self = Self {
        measurements: true,
        answers: true,
        activity: true,
        steps: true,
        recent: true,
    };
}

/// Loads the accounts that match `$filter` (a condition on `accounts`)
/// into the [`Slots`] `$out`, joined with their answer summaries when
/// `$out` wants measurements.
macro_rules! load_accounts {
    ($conn:expr, $out:expr, $filter:expr) => {
        if $out.wanted.measurements {
            $out.measured(
                accounts::table
                    .left_join(measure_summaries::table)
                    .filter($filter)
                    .select((
                        SharedAccount::as_select(),
                        Option::<MeasureSummary>::as_select(),
                    ))
                    .load($conn)?,
            );
        } else {
            $out.plain(
                accounts::table
                    .filter($filter)
                    .select(SharedAccount::as_select())
                    .load($conn)?,
            );
        }
    };
}

/// Loads [`SharedSummaryRows`] for the accounts `ids` in a few queries (one
/// per table, not one per account; the accounts with their answer
/// summaries in one joined query), only the parts `wanted`; registrations
/// are counted from `since`. Call only with the ids a consent gate handed
/// out ([`crate::consent::read_shared_accounts`],
/// [`crate::consent::read_shared_account`]).
pub fn summary_rows(
    conn: &mut DbConn,
    ids: &[String],
    since: DateTime<Utc>,
    wanted: Wanted,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let mut out = Slots::new(wanted);
    for chunk in ids.chunks(crate::consent::MAX_IDS_PER_QUERY) {
        load_accounts!(conn, out, accounts::id.eq_any(chunk));
    }
    rest(conn, out.rows, ids, since, wanted)
}

/// [`summary_rows`] for every account [`crate::consent::read_shared_org`]
/// let through: the accounts (with their answer summaries) are selected
/// by the gate's own indexed condition, not by a list of thousands of ids.
pub fn summary_rows_for_org(
    conn: &mut DbConn,
    shared: &crate::consent::SharedOrg,
    since: DateTime<Utc>,
    wanted: Wanted,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let mut out = Slots::new(wanted);
    load_accounts!(conn, out, shared.filter());
    let ids: Vec<String> = out
        .rows
        .iter()
        .map(|r| r.account.id.as_str().to_owned())
        .collect();
    rest(conn, out.rows, &ids, since, wanted)
}

/// The accounts as they arrive, one [`SharedSummaryRows`] each.
struct Slots {
    rows: Vec<SharedSummaryRows>,
    index: HashMap<String, usize>,
    wanted: Wanted,
}

impl Slots {
    fn new(wanted: Wanted) -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::new(),
            wanted,
        }
    }

    fn slot(&mut self, account: SharedAccount) -> usize {
        if let Some(&i) = self.index.get(account.id.as_str()) {
            return i;
        }
        self.index
            .insert(account.id.as_str().to_owned(), self.rows.len());
        self.rows.push(SharedSummaryRows {
            account,
            measures: Vec::new(),
            responses: Vec::new(),
            completed_steps: self.wanted.steps.then(Vec::new),
            last_step: None,
            recent_registrations: 0,
            last_registration: None,
        });
        self.rows.len() - 1
    }

    fn measured(&mut self, rows: Vec<(SharedAccount, Option<MeasureSummary>)>) {
        for (account, measure) in rows {
            let i = self.slot(account);
            self.rows[i].measures.extend(measure);
        }
    }

    fn plain(&mut self, rows: Vec<SharedAccount>) {
        for account in rows {
            self.slot(account);
        }
    }
}

/// Everything but the accounts and their answer summaries, for the
/// accounts in `out` (whose ids are `ids`).
fn rest(
    conn: &mut DbConn,
    mut out: Vec<SharedSummaryRows>,
    ids: &[String],
    since: DateTime<Utc>,
    wanted: Wanted,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let index: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, r)| (r.account.id.as_str().to_owned(), i))
        .collect();
    for chunk in ids.chunks(crate::consent::MAX_IDS_PER_QUERY) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        if wanted.answers {
            let responses: Vec<Measurement> = questionnaire_responses::table
                .filter(questionnaire_responses::account_id.eq_any(&ids))
                .filter(questionnaire_responses::voided_at.is_null())
                .order((
                    questionnaire_responses::completed_at.asc(),
                    questionnaire_responses::id.asc(),
                ))
                .select(Measurement::as_select())
                .load(conn)?;
            for r in responses {
                if let Some(&i) = index.get(r.account_id.as_str()) {
                    out[i].responses.push(r);
                }
            }
        }
        if wanted.steps {
            // Which steps, without their times (thousands of timestamps to
            // parse add up); the latest time comes from one grouped query.
            let steps: Vec<(String, String, String)> = step_progress::table
                .filter(step_progress::account_id.eq_any(&ids))
                .filter(step_progress::completed_at.is_not_null())
                .select((
                    step_progress::account_id,
                    step_progress::program_slug,
                    step_progress::step_id,
                ))
                .load(conn)?;
            for (account, program, step) in steps {
                if let Some(done) = index
                    .get(&account)
                    .and_then(|&i| out[i].completed_steps.as_mut())
                {
                    done.push((program, step));
                }
            }
        }
        if wanted.activity {
            let last_steps: Vec<(String, Option<StoredTime>)> = step_progress::table
                .filter(step_progress::account_id.eq_any(&ids))
                .group_by(step_progress::account_id)
                .select((
                    step_progress::account_id,
                    diesel::dsl::max(step_progress::completed_at),
                ))
                .load(conn)?;
            for (account, at) in last_steps {
                if let Some(&i) = index.get(&account) {
                    out[i].last_step = at.map(DateTime::from);
                }
            }
            // Counted and maxed in the database: registrations pile up over
            // the years, and only two numbers per account are needed.
            let latest: Vec<(String, Option<StoredTime>)> = registration_entries::table
                .filter(registration_entries::account_id.eq_any(&ids))
                .group_by(registration_entries::account_id)
                .select((
                    registration_entries::account_id,
                    diesel::dsl::max(registration_entries::created_at),
                ))
                .load(conn)?;
            for (account, at) in latest {
                if let Some(&i) = index.get(&account) {
                    out[i].last_registration = at.map(DateTime::from);
                }
            }
        }
        if wanted.recent {
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
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use diesel::prelude::*;

    use super::{MeasureSummary, add_to_measure, refresh_measure};
    use crate::DbConn;
    use crate::schema::{measure_summaries, questionnaire_responses};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).expect("a valid time")
    }

    fn summary(conn: &mut DbConn) -> Option<MeasureSummary> {
        measure_summaries::table
            .select(MeasureSummary::as_select())
            .first(conn)
            .optional()
            .expect("read the summary")
    }

    /// Answers inserted one by one, each followed by the incremental
    /// update, leave the row a full recompute from all answers gives:
    /// in order, in the same instant, with the clock going back, after a
    /// voided answer, and late (between the first and the latest).
    #[test]
    fn the_incremental_summary_equals_the_full_recompute() {
        let mut conn = crate::conn::memory_db();
        // (id, seconds, total, band, flags)
        let answers = [
            ("m", 100, 14, "moderate", "item9"),
            ("k", 200, 11, "moderate", ""),
            ("z", 200, 9, "mild", ""),
            ("a", 200, 8, "mild", "item9"),
            ("b", 50, 20, "severe", ""),
            ("c", 300, 4, "minimal", ""),
            // Late: between the first and the latest.
            ("d", 250, 6, "mild", ""),
        ];
        for (i, (id, secs, total, band, flags)) in answers.into_iter().enumerate() {
            diesel::insert_into(questionnaire_responses::table)
                .values((
                    questionnaire_responses::id.eq(id),
                    questionnaire_responses::account_id.eq("acc"),
                    questionnaire_responses::questionnaire_id.eq("phq9"),
                    questionnaire_responses::questionnaire_version.eq(1_i64),
                    questionnaire_responses::total.eq(total),
                    questionnaire_responses::band_id.eq(band),
                    questionnaire_responses::flags.eq(flags),
                    questionnaire_responses::prorated.eq(false),
                    questionnaire_responses::completed_at.eq(crate::to_db(at(secs))),
                ))
                .execute(&mut conn)
                .expect("insert an answer");
            if i == 2 {
                // Void the first answer between two others.
                diesel::update(questionnaire_responses::table.find("m"))
                    .set(questionnaire_responses::voided_at.eq(Some(crate::to_db(at(250)))))
                    .execute(&mut conn)
                    .expect("void");
                refresh_measure(&mut conn, "acc", "phq9").expect("refresh after voiding");
            }
            add_to_measure(&mut conn, "acc", "phq9", (total, band, flags), at(secs))
                .expect("incremental update");
            let incremental = summary(&mut conn);
            refresh_measure(&mut conn, "acc", "phq9").expect("full recompute");
            let full = summary(&mut conn);
            assert!(full.is_some(), "answer {id}: a row after an answer");
            assert_eq!(incremental, full, "answer {id}");
        }
        let last = summary(&mut conn).expect("a row");
        assert_eq!(
            (last.first_total, last.latest_total, last.answers),
            (20, 4, 6)
        );
    }
}
