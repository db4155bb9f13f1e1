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
use diesel::sql_types::{Bool, Text};

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
    /// Its answers that were not voided, oldest first (only with
    /// [`Answers::Every`]).
    pub responses: Vec<Measurement>,
    /// Steps completed: (program, step).
    pub completed_steps: Vec<(String, String)>,
    /// When the latest step was completed.
    pub last_step: Option<DateTime<Utc>>,
    /// Registrations made since the cut-off the caller gave.
    pub recent_registrations: usize,
    /// When the latest registration was made.
    pub last_registration: Option<DateTime<Utc>>,
}

/// Whether [`summary_rows`] also loads every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// Only the one-row-per-questionnaire summaries (the overview's rows).
    Summaries,
    /// Every answer too (the journal summary's table).
    Every,
}

/// Loads [`SharedSummaryRows`] for the accounts `ids` in a few queries (one
/// per table, not one per account; the accounts with their answer
/// summaries in one joined query); registrations are counted from
/// `since`. Call only with the ids a consent gate handed out
/// ([`crate::consent::read_shared_accounts`],
/// [`crate::consent::read_shared_account`]).
pub fn summary_rows(
    conn: &mut DbConn,
    ids: &[String],
    since: DateTime<Utc>,
    answers: Answers,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let mut out = Slots::default();
    for chunk in ids.chunks(crate::consent::MAX_IDS_PER_QUERY) {
        out.measured(
            accounts::table
                .left_join(measure_summaries::table)
                .filter(accounts::id.eq_any(chunk))
                .select((
                    SharedAccount::as_select(),
                    Option::<MeasureSummary>::as_select(),
                ))
                .load(conn)?,
        );
    }
    rest(conn, out, ids, since, answers)
}

/// Which of the sharing accounts the overview lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Narrowing<'a> {
    /// Every sharing account.
    Sharing,
    /// Those whose latest answer to any of `questionnaires` raised `flag`
    /// (as [`MeasureSummary::latest_has_flag`]).
    Flagged {
        /// The questionnaires looked at.
        questionnaires: &'a [&'a str],
        /// The flag id.
        flag: &'a str,
    },
    /// Those with two or more answers to one of these questionnaires that
    /// worsened from the first to the latest by at least its bound.
    Deteriorated(&'a [Worsening<'a>]),
    /// Those with neither a login nor an answer after `cutoff` (the
    /// latest answer to any questionnaire).
    InactiveSince(DateTime<Utc>),
}

/// When one questionnaire's change counts as a deterioration
/// (`scoring::deterioration_bound` in the domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worsening<'a> {
    /// The questionnaire.
    pub questionnaire: &'a str,
    /// Whether a higher total is worse (a symptom scale).
    pub higher_is_worse: bool,
    /// The least worsening that counts.
    pub bound: i64,
}

/// The order of the overview's narrowed list. Every order ends newest code
/// first, then by account id, so it is total and pages neither overlap
/// nor skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NarrowedOrder<'a> {
    /// Newest code first.
    Newest,
    /// Highest latest total of this questionnaire first; accounts that
    /// have not answered it last.
    LatestTotal(&'a str),
    /// Longest since the latest login or answer first; accounts with
    /// neither first of all.
    LeastRecentActivity,
}

/// A condition on `accounts` (with correlated subqueries).
type Condition = Box<dyn BoxableExpression<accounts::table, crate::conn::Db, SqlType = Bool>>;

diesel::alias!(measure_summaries as summaries: Summaries);

/// The condition `narrowing` puts on the sharing accounts.
fn condition(narrowing: Narrowing<'_>) -> Condition {
    use diesel::dsl::{exists, not};
    let of_account = || {
        summaries.filter(
            summaries
                .field(measure_summaries::account_id)
                .eq(accounts::id),
        )
    };
    match narrowing {
        Narrowing::Sharing => Box::new(true.into_sql::<Bool>()),
        Narrowing::Flagged {
            questionnaires,
            flag,
        } => {
            // Flags are stored space-separated: a whole word of the list,
            // with LIKE's wildcards in the id taken literally.
            let escaped: String = flag
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let questionnaires: Vec<String> =
                questionnaires.iter().map(|&q| q.to_owned()).collect();
            Box::new(exists(
                of_account()
                    .filter(
                        summaries
                            .field(measure_summaries::questionnaire_id)
                            .eq_any(questionnaires),
                    )
                    .filter(
                        " ".into_sql::<Text>()
                            .concat(summaries.field(measure_summaries::latest_flags))
                            .concat(" ")
                            .like(format!("% {escaped} %"))
                            .escape('\\'),
                    ),
            ))
        }
        Narrowing::Deteriorated(bounds) => {
            let (first, latest) = (
                summaries.field(measure_summaries::first_total),
                summaries.field(measure_summaries::latest_total),
            );
            bounds
                .iter()
                .fold(Box::new(false.into_sql::<Bool>()) as Condition, |any, w| {
                    let answered = of_account()
                        .filter(
                            summaries
                                .field(measure_summaries::questionnaire_id)
                                .eq(w.questionnaire.to_owned()),
                        )
                        .filter(summaries.field(measure_summaries::answers).ge(2));
                    let worse: Condition = if w.higher_is_worse {
                        Box::new(exists(answered.filter((latest - first).ge(w.bound))))
                    } else {
                        Box::new(exists(answered.filter((first - latest).ge(w.bound))))
                    };
                    Box::new(any.or(worse))
                })
        }
        Narrowing::InactiveSince(cutoff) => {
            let cutoff = to_db(cutoff);
            Box::new(
                accounts::last_login_at
                    .is_null()
                    .or(accounts::last_login_at.le(cutoff).assume_not_null())
                    .and(not(exists(of_account().filter(
                        summaries.field(measure_summaries::latest_at).gt(cutoff),
                    )))),
            )
        }
    }
}

/// One page (`limit` from `offset`) of the sharing accounts that
/// `narrowing` keeps, in `order`, and how many it keeps in all: decided,
/// ordered and counted by the database, so that a page does not load
/// every sharing account of the organisation.
pub fn narrowed_page_for_org(
    conn: &mut DbConn,
    shared: &crate::consent::SharedOrg,
    narrowing: Narrowing<'_>,
    order: NarrowedOrder<'_>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Id>, i64), StoreError> {
    // The count rides along with the page (a window over every row the
    // filter keeps, which the order has to look at anyway), so the filter
    // is evaluated once per request, not once for the page and again for
    // the count.
    let page = accounts::table
        .filter(shared.filter())
        .filter(condition(narrowing))
        .select((
            accounts::id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) OVER ()"),
        ))
        .into_boxed();
    let page = match order {
        NarrowedOrder::Newest => page.order(accounts::created_at.desc()),
        NarrowedOrder::LatestTotal(q) => {
            let latest = || {
                summaries
                    .filter(
                        summaries
                            .field(measure_summaries::account_id)
                            .eq(accounts::id),
                    )
                    .filter(
                        summaries
                            .field(measure_summaries::questionnaire_id)
                            .eq(q.to_owned()),
                    )
                    .select(summaries.field(measure_summaries::latest_total))
                    .single_value()
            };
            // Unanswered last on both databases (PostgreSQL puts NULLs
            // first in a descending order, SQLite last).
            page.order(latest().is_null().asc())
                .then_order_by(latest().desc())
                .then_order_by(accounts::created_at.desc())
        }
        NarrowedOrder::LeastRecentActivity => {
            // The later of the login and the latest answer. SQLite's
            // two-argument MAX is NULL if either is; PostgreSQL's
            // GREATEST ignores NULLs. Never-active accounts first.
            let latest_answer = "(SELECT MAX(s.latest_at) FROM measure_summaries s \
                                 WHERE s.account_id = accounts.id)";
            let activity = match conn {
                DbConn::Sqlite(_) => format!(
                    "MAX(COALESCE(accounts.last_login_at, ''), COALESCE({latest_answer}, ''))"
                ),
                DbConn::Pg(_) => {
                    format!("GREATEST(accounts.last_login_at, {latest_answer}) ASC NULLS FIRST")
                }
            };
            page.order(diesel::dsl::sql::<Text>(&activity))
                .then_order_by(accounts::created_at.desc())
        }
    };
    let rows: Vec<(StoredId, i64)> = page
        .then_order_by(accounts::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    let total = match rows.first() {
        Some(&(_, total)) => total,
        None if offset == 0 => 0,
        // A page past the end: no row to carry the count.
        None => accounts::table
            .filter(shared.filter())
            .filter(condition(narrowing))
            .count()
            .get_result(conn)?,
    };
    Ok((rows.into_iter().map(|(id, _)| id.into()).collect(), total))
}

/// The accounts as they arrive, one [`SharedSummaryRows`] each, and where
/// each one's is.
#[derive(Default)]
struct Slots {
    rows: Vec<SharedSummaryRows>,
    index: HashMap<String, usize>,
}

impl Slots {
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
            completed_steps: Vec::new(),
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
}

/// Everything but the accounts and their answer summaries, for the
/// accounts in `slots` (whose ids are `ids`).
fn rest(
    conn: &mut DbConn,
    slots: Slots,
    ids: &[String],
    since: DateTime<Utc>,
    answers: Answers,
) -> Result<Vec<SharedSummaryRows>, StoreError> {
    let Slots {
        rows: mut out,
        index,
    } = slots;
    for chunk in ids.chunks(crate::consent::MAX_IDS_PER_QUERY) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        if answers == Answers::Every {
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
            if let Some(&i) = index.get(&account) {
                out[i].completed_steps.push((program, step));
            }
        }
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use diesel::prelude::*;

    use super::{MeasureSummary, Narrowing, add_to_measure, refresh_measure};
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

    /// A small deterministic generator (no seed-dependent flakiness, the
    /// same cases on both databases).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// One generated answer summary.
    #[derive(Debug)]
    struct GeneratedMeasure {
        first: i64,
        latest: i64,
        answers: i64,
        flags: &'static str,
        latest_at: i64,
    }

    /// One generated account.
    #[derive(Debug)]
    struct Generated {
        id: String,
        issued: i64,
        sharing: bool,
        login: Option<i64>,
        phq9: Option<GeneratedMeasure>,
        gad7: Option<GeneratedMeasure>,
    }

    const DAY: i64 = 86_400;

    /// Writes `n` accounts of a new organisation (codes issued in batches,
    /// so many share a time; some not sharing now; some without answers
    /// or logins; flags that are, contain or only resemble the one
    /// filtered on; activity on both sides of 14 days ago, and at it) and
    /// a few of another organisation; returns the organisation's.
    fn generate(
        conn: &mut DbConn,
        rng: &mut Lcg,
        n: usize,
    ) -> (mestring_domain::id::Id, Vec<Generated>) {
        use crate::schema::{accounts, organisations};
        let org = mestring_domain::id::Id::generate();
        let other = mestring_domain::id::Id::generate();
        for o in [&org, &other] {
            diesel::insert_into(organisations::table)
                .values((
                    organisations::id.eq(o.as_str()),
                    organisations::name.eq("Klinikk"),
                    organisations::created_at.eq(crate::to_db(at(0))),
                ))
                .execute(conn)
                .expect("organisation");
        }
        let flags = [
            "",
            "suicidal-ideation",
            "other suicidal-ideation",
            "suicidal-ideationx",
            "x-suicidal-ideation other",
        ];
        // Days ago, 14 (the cut-off) among them.
        let when = |rng: &mut Lcg| -i64::try_from(rng.below(30)).unwrap_or(0) * DAY;
        let mut out = Vec::new();
        let mut issued = -60 * DAY;
        for i in 0..n + 5 {
            let id = mestring_domain::id::Id::generate().into_string();
            // Batches of codes issued in the same instant.
            if rng.below(4) == 0 {
                issued += 60;
            }
            let sharing = rng.below(5) != 0;
            let (since, until) = if sharing {
                (at(-100 * DAY), at(10_000))
            } else if rng.below(2) == 0 {
                (at(-100 * DAY), at(-10))
            } else {
                (at(10), at(10_000))
            };
            let login = (rng.below(3) != 0).then(|| when(rng));
            let owner = if i < n { &org } else { &other };
            diesel::insert_into(accounts::table)
                .values((
                    accounts::id.eq(&id),
                    accounts::code_hash.eq(format!("hash-{id}")),
                    accounts::org_id.eq(Some(owner.as_str())),
                    accounts::created_at.eq(crate::to_db(at(issued))),
                    accounts::last_login_at.eq(login.map(|l| crate::to_db(at(l)))),
                    accounts::sharing_since.eq(Some(crate::to_db(since))),
                    accounts::sharing_until.eq(Some(crate::to_db(until))),
                ))
                .execute(conn)
                .expect("account");
            let mut measure = |q: &str, rng: &mut Lcg| {
                if rng.below(4) == 0 {
                    return None;
                }
                let m = GeneratedMeasure {
                    first: i64::try_from(rng.below(28)).unwrap_or(0),
                    latest: i64::try_from(rng.below(28)).unwrap_or(0),
                    answers: 1 + i64::try_from(rng.below(3)).unwrap_or(0),
                    flags: flags[usize::try_from(rng.below(5)).unwrap_or(0)],
                    latest_at: when(rng),
                };
                diesel::insert_into(measure_summaries::table)
                    .values((
                        measure_summaries::account_id.eq(&id),
                        measure_summaries::questionnaire_id.eq(q),
                        measure_summaries::first_total.eq(m.first),
                        measure_summaries::latest_total.eq(m.latest),
                        measure_summaries::latest_band.eq("band"),
                        measure_summaries::latest_flags.eq(m.flags),
                        measure_summaries::answers.eq(m.answers),
                        measure_summaries::latest_at.eq(crate::to_db(at(m.latest_at))),
                    ))
                    .execute(conn)
                    .expect("summary");
                Some(m)
            };
            let phq9 = measure("phq9", rng);
            let gad7 = measure("gad7", rng);
            if i < n {
                out.push(Generated {
                    id,
                    issued,
                    sharing,
                    login,
                    phq9,
                    gad7,
                });
            }
        }
        (org, out)
    }

    /// Whether the generated account is kept by `narrowing` (the rules as
    /// the dashboard states them, written out here independently).
    fn kept(g: &Generated, narrowing: Narrowing<'_>) -> bool {
        let measures = || g.phq9.iter().chain(&g.gad7);
        match narrowing {
            Narrowing::Sharing => true,
            Narrowing::Flagged { flag, .. } => {
                measures().any(|m| m.flags.split_whitespace().any(|w| w == flag))
            }
            Narrowing::Deteriorated(bounds) => bounds.iter().any(|w| {
                let m = if w.questionnaire == "phq9" {
                    &g.phq9
                } else {
                    &g.gad7
                };
                m.as_ref().is_some_and(|m| {
                    let worse = if w.higher_is_worse {
                        m.latest - m.first
                    } else {
                        m.first - m.latest
                    };
                    m.answers >= 2 && worse >= w.bound
                })
            }),
            Narrowing::InactiveSince(cutoff) => activity(g).is_none_or(|t| at(t) <= cutoff),
        }
    }

    /// The latest login or answer, in seconds from [`at`]'s origin.
    fn activity(g: &Generated) -> Option<i64> {
        g.login
            .into_iter()
            .chain(g.phq9.iter().chain(&g.gad7).map(|m| m.latest_at))
            .max()
    }

    /// The database's narrowed pages, read one after another, are the
    /// sharing accounts the overview's rules keep, in the order they give
    /// (newest code first, ties by id; then stably by the order's key),
    /// and its count is theirs.
    fn narrowed_pages_follow_the_rules(conn: &mut DbConn) {
        use super::{NarrowedOrder, Worsening, narrowed_page_for_org};
        let questionnaires = ["phq9", "gad7"];
        let flag = "suicidal-ideation";
        let bounds = [
            Worsening {
                questionnaire: "phq9",
                higher_is_worse: true,
                bound: 6,
            },
            Worsening {
                questionnaire: "gad7",
                higher_is_worse: false,
                bound: 4,
            },
        ];
        let mut rng = Lcg(7);
        for case in 0..5 {
            let (org, generated) = generate(conn, &mut rng, 40 + 23 * case);
            for narrowing in [
                Narrowing::Sharing,
                Narrowing::Flagged {
                    questionnaires: &questionnaires,
                    flag,
                },
                Narrowing::Deteriorated(&bounds),
                Narrowing::InactiveSince(at(-14 * DAY)),
            ] {
                for order in [
                    NarrowedOrder::Newest,
                    NarrowedOrder::LatestTotal("phq9"),
                    NarrowedOrder::LatestTotal("gad7"),
                    NarrowedOrder::LeastRecentActivity,
                ] {
                    let mut expected: Vec<&Generated> = generated
                        .iter()
                        .filter(|g| g.sharing && kept(g, narrowing))
                        .collect();
                    expected.sort_by(|a, b| b.issued.cmp(&a.issued).then_with(|| a.id.cmp(&b.id)));
                    match order {
                        NarrowedOrder::Newest => {}
                        NarrowedOrder::LatestTotal(q) => expected.sort_by_key(|g| {
                            let m = if q == "phq9" { &g.phq9 } else { &g.gad7 };
                            std::cmp::Reverse(m.as_ref().map(|m| m.latest))
                        }),
                        NarrowedOrder::LeastRecentActivity => expected.sort_by_key(|g| activity(g)),
                    }
                    let expected: Vec<&str> = expected.iter().map(|g| g.id.as_str()).collect();
                    assert!(
                        case == 0 || !expected.is_empty(),
                        "the generated cases select something: {narrowing:?}"
                    );
                    let mut got = Vec::new();
                    let mut offset = 0;
                    loop {
                        let (page, total) =
                            crate::consent::read_shared_org(conn, &org, at(0), |conn, shared| {
                                narrowed_page_for_org(conn, shared, narrowing, order, 17, offset)
                            })
                            .expect("a page");
                        assert_eq!(
                            usize::try_from(total).ok(),
                            Some(expected.len()),
                            "{narrowing:?} {order:?}"
                        );
                        if page.is_empty() {
                            break;
                        }
                        got.extend(page.into_iter().map(mestring_domain::id::Id::into_string));
                        offset += 17;
                    }
                    assert_eq!(got, expected, "case {case}, {narrowing:?}, {order:?}");
                }
            }
        }
    }

    /// [`narrowed_pages_follow_the_rules`] on a migrated database at `url`.
    fn narrowed_pages_follow_the_rules_at(url: &str) {
        let store =
            crate::Store::connect(&crate::DatabaseUrl::parse(url).expect("url"), 1).expect("store");
        store.migrate().expect("migrations");
        store
            .run_blocking(|conn| {
                narrowed_pages_follow_the_rules(conn);
                Ok(())
            })
            .expect("run");
    }

    #[test]
    fn narrowed_pages_follow_the_rules_on_sqlite() {
        let dir = crate::conn::test_dir("narrowed");
        narrowed_pages_follow_the_rules_at(&format!("sqlite://{}/db.sqlite", dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn narrowed_pages_follow_the_rules_on_postgres() {
        crate::testing::with_postgres_database("narrowed", narrowed_pages_follow_the_rules_at);
    }
}
