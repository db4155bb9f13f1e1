//! Counts for group data, for a whole channel at once (every organisation
//! in it), grouped in the database so a request reads a few thousand rows
//! however many accounts there are. Suppression happens in the domain
//! (`mestring_domain::suppression`); nothing here is shown as is.
//!
//! The SQL is built from values this crate or the domain made (a parsed
//! [`ChannelSlug`], month boundaries, content slugs), never from user
//! input, so it can be written once for both backends without binds.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use mestring_domain::channel::ChannelSlug;
use mestring_domain::periods::Month;

use crate::schema::aggregate_snapshots;
use crate::{DbConn, StoreError, to_db};

/// One count: organisation, a category key, a month label (`YYYY-MM`, or
/// empty where the measure has no period) and the number.
#[derive(
    Debug, Clone, PartialEq, Eq, diesel::QueryableByName, serde::Serialize, serde::Deserialize,
)]
pub struct CountRow {
    /// Organisation id.
    #[diesel(sql_type = Text)]
    pub org: String,
    /// Category (program slug, registration form, feedback kind, …).
    #[diesel(sql_type = Text)]
    pub key: String,
    /// Month label or empty.
    #[diesel(sql_type = Text)]
    pub month: String,
    /// How many (people, unless the measure says otherwise).
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// First and latest score of a questionnaire, and how many people had
/// them, per organisation.
#[derive(
    Debug, Clone, PartialEq, Eq, diesel::QueryableByName, serde::Serialize, serde::Deserialize,
)]
pub struct MeasureRow {
    /// Organisation id.
    #[diesel(sql_type = Text)]
    pub org: String,
    /// Questionnaire id.
    #[diesel(sql_type = Text)]
    pub questionnaire: String,
    /// First total.
    #[diesel(sql_type = BigInt)]
    pub first_total: i64,
    /// Latest total.
    #[diesel(sql_type = BigInt)]
    pub latest_total: i64,
    /// 1 when the person answered more than once (so change is defined).
    #[diesel(sql_type = BigInt)]
    pub repeated: i64,
    /// People.
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A deletion record as a tool manager may see it: organisation and day.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct DeletionDay {
    /// Organisation id.
    #[diesel(sql_type = Text)]
    pub org: String,
    /// `YYYY-MM-DD` (UTC date of the deletion).
    #[diesel(sql_type = Text)]
    pub day: String,
}

/// What the channel's tables are made of.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ChannelCounts {
    /// People who have logged in at least once, per organisation (`key`
    /// and `month` empty).
    pub users: Vec<CountRow>,
    /// People by program (`key`, empty for none) and the month of their
    /// first day of use.
    pub started: Vec<CountRow>,
    /// People by program and month with at least one day of use.
    pub active: Vec<CountRow>,
    /// People by program and month who completed the program's last step.
    pub completed: Vec<CountRow>,
    /// People by module (`key` = `program/step` of the module's last
    /// step) who completed it, any time.
    pub modules: Vec<CountRow>,
    /// First and latest scores.
    pub measures: Vec<MeasureRow>,
    /// People by registration form and month with at least one entry.
    pub registrations: Vec<CountRow>,
    /// People by feedback kind and month who sent at least one.
    pub feedback: Vec<CountRow>,
    /// People by sharing change (`given`, `withdrawn`, `lapsed`) and month.
    pub sharing: Vec<CountRow>,
    /// Deletions by month (`key` = `deleted`).
    pub deletions: Vec<CountRow>,
}

/// `CASE` expression putting a timestamp column into its month label;
/// NULL before the first month.
fn month_case(column: &str, months: &[Month]) -> String {
    let mut sql = String::from("CASE");
    for m in months.iter().rev() {
        sql.push_str(&format!(
            " WHEN {column} >= '{}' THEN '{}'",
            sql_timestamp(m.start),
            m.label
        ));
    }
    sql.push_str(" END");
    sql
}

fn sql_timestamp(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Quotes a value this crate or the domain produced (slugs, ids), doubling
/// quotes anyway.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn counts(conn: &mut DbConn, sql: &str) -> Result<Vec<CountRow>, StoreError> {
    diesel::sql_query(sql).load(conn).map_err(StoreError::from)
}

/// Loads every count of `channel` for the given months (oldest first).
/// `program_ends` are `program/step` keys of each program's last step;
/// `module_ends` those of each module's last step.
pub fn load(
    conn: &mut DbConn,
    channel: &ChannelSlug,
    months: &[Month],
    program_ends: &[String],
    module_ends: &[String],
) -> Result<ChannelCounts, StoreError> {
    let Some(first) = months.first() else {
        return Ok(ChannelCounts::default());
    };
    let ch = lit(channel.as_str());
    let from = lit(&sql_timestamp(first.start));
    let from_day = lit(&first.first_day.format("%Y-%m-%d").to_string());
    let from_month = lit(&first.label);
    let in_channel = format!(
        "JOIN accounts a ON a.id = x.account_id JOIN organisations o ON o.id = a.org_id \
         WHERE o.channel = {ch}"
    );
    let in_list = |keys: &[String]| {
        if keys.is_empty() {
            "('')".to_owned()
        } else {
            format!(
                "({})",
                keys.iter().map(|k| lit(k)).collect::<Vec<_>>().join(", ")
            )
        }
    };
    // Distinct people per (org, key, month) out of an event table.
    let people_by_month = |table: &str, key: &str, at: &str, extra: &str| {
        format!(
            "SELECT s.org AS org, s.k AS key, s.m AS month, COUNT(DISTINCT s.acc) AS n FROM \
             (SELECT a.org_id AS org, {key} AS k, {case} AS m, x.account_id AS acc \
              FROM {table} x {in_channel} AND x.{at} >= {from} {extra}) s \
             WHERE s.k IS NOT NULL GROUP BY s.org, s.k, s.m",
            case = month_case(&format!("x.{at}"), months),
        )
    };
    let users = counts(
        conn,
        &format!(
            "SELECT a.org_id AS org, '' AS key, '' AS month, COUNT(*) AS n \
             FROM accounts a JOIN organisations o ON o.id = a.org_id \
             WHERE o.channel = {ch} AND a.last_login_at IS NOT NULL GROUP BY a.org_id"
        ),
    )?;
    let started = counts(
        conn,
        &format!(
            "SELECT s.org AS org, s.k AS key, s.m AS month, COUNT(*) AS n FROM \
             (SELECT a.org_id AS org, COALESCE(a.program_slug, '') AS k, \
                     SUBSTR(MIN(x.day), 1, 7) AS m \
              FROM activity_days x {in_channel} GROUP BY a.id, a.org_id, a.program_slug) s \
             WHERE s.m >= {from_month} GROUP BY s.org, s.k, s.m"
        ),
    )?;
    let active = counts(
        conn,
        &format!(
            "SELECT s.org AS org, s.k AS key, s.m AS month, COUNT(DISTINCT s.acc) AS n FROM \
             (SELECT a.org_id AS org, COALESCE(a.program_slug, '') AS k, \
                     SUBSTR(x.day, 1, 7) AS m, a.id AS acc \
              FROM activity_days x {in_channel} AND x.day >= {from_day}) s \
             GROUP BY s.org, s.k, s.m"
        ),
    )?;
    let completed = counts(
        conn,
        &people_by_month(
            "step_progress",
            "x.program_slug",
            "completed_at",
            &format!(
                "AND x.program_slug || '/' || x.step_id IN {}",
                in_list(program_ends)
            ),
        ),
    )?;
    let modules = counts(
        conn,
        &format!(
            "SELECT a.org_id AS org, x.program_slug || '/' || x.step_id AS key, '' AS month, \
                    COUNT(DISTINCT x.account_id) AS n \
             FROM step_progress x {in_channel} AND x.completed_at IS NOT NULL \
             AND x.program_slug || '/' || x.step_id IN {} \
             GROUP BY a.org_id, x.program_slug, x.step_id",
            in_list(module_ends)
        ),
    )?;
    let measures = diesel::sql_query(format!(
        "SELECT a.org_id AS org, x.questionnaire_id AS questionnaire, \
                x.first_total AS first_total, x.latest_total AS latest_total, \
                CAST(CASE WHEN x.answers > 1 THEN 1 ELSE 0 END AS BIGINT) AS repeated, COUNT(*) AS n \
         FROM measure_summaries x {in_channel} AND x.answers > 0 \
         GROUP BY a.org_id, x.questionnaire_id, x.first_total, x.latest_total, \
                  CASE WHEN x.answers > 1 THEN 1 ELSE 0 END"
    ))
    .load(conn)?;
    let registrations = counts(
        conn,
        &people_by_month(
            "registration_entries",
            "x.registration_id",
            "created_at",
            "",
        ),
    )?;
    let feedback = counts(
        conn,
        &people_by_month("feedback", "x.kind", "created_at", ""),
    )?;
    let sharing = counts(
        conn,
        &people_by_month(
            "consent_events",
            "CASE WHEN x.kind IN ('given', 'renewed') THEN 'given' \
                  WHEN x.kind IN ('withdrawn', 'ended_at_renewal') THEN 'withdrawn' \
                  WHEN x.kind = 'lapsed' THEN 'lapsed' END",
            "at",
            "",
        ),
    )?;
    let deletions = counts(
        conn,
        &format!(
            "SELECT s.org AS org, 'deleted' AS key, s.m AS month, COUNT(*) AS n FROM \
             (SELECT x.org_id AS org, {case} AS m FROM deletion_records x \
              JOIN organisations o ON o.id = x.org_id \
              WHERE o.channel = {ch} AND x.deleted_at >= {from}) s GROUP BY s.org, s.m",
            case = month_case("x.deleted_at", months),
        ),
    )?;
    Ok(ChannelCounts {
        users,
        started,
        active,
        completed,
        modules,
        measures,
        registrations,
        feedback,
        sharing,
        deletions,
    })
}

/// The channel's deletion records, newest first: organisation and day,
/// never a pseudonym.
pub fn deletion_days(
    conn: &mut DbConn,
    channel: &ChannelSlug,
    limit: i64,
) -> Result<Vec<DeletionDay>, StoreError> {
    diesel::sql_query(format!(
        "SELECT x.org_id AS org, SUBSTR(CAST(x.deleted_at AS TEXT), 1, 10) AS day \
         FROM deletion_records x JOIN organisations o ON o.id = x.org_id \
         WHERE o.channel = {} ORDER BY x.deleted_at DESC LIMIT {limit}",
        lit(channel.as_str())
    ))
    .load(conn)
    .map_err(StoreError::from)
}

/// Counts and when they were computed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The counts.
    pub counts: ChannelCounts,
    /// When they were computed.
    pub computed_at: DateTime<Utc>,
}

/// What a snapshot is valid for: its first month and the content's step
/// keys. Counts for another key are recomputed.
fn scope_key(months: &[Month], program_ends: &[String], module_ends: &[String]) -> String {
    format!(
        "{}|{}|{}",
        months.first().map_or("", |m| m.label.as_str()),
        program_ends.join(","),
        module_ends.join(",")
    )
}

/// The channel's counts: the stored snapshot when it is for these months
/// and content and younger than `max_age`, else computed now and stored.
pub fn cached(
    conn: &mut DbConn,
    channel: &ChannelSlug,
    months: &[Month],
    program_ends: &[String],
    module_ends: &[String],
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Snapshot, StoreError> {
    let key = scope_key(months, program_ends, module_ends);
    let stored: Option<(String, crate::StoredTime, String)> = aggregate_snapshots::table
        .find(channel.as_str())
        .select((
            aggregate_snapshots::scope_key,
            aggregate_snapshots::computed_at,
            aggregate_snapshots::counts,
        ))
        .first(conn)
        .optional()?;
    if let Some((stored_key, at, json)) = stored {
        let at = DateTime::<Utc>::from(at);
        if stored_key == key && now - at < max_age {
            // A snapshot this version cannot read is recomputed, not an error.
            if let Ok(counts) = serde_json::from_str(&json) {
                return Ok(Snapshot {
                    counts,
                    computed_at: at,
                });
            }
        }
    }
    refresh(conn, channel, months, program_ends, module_ends, now)
}

/// Channels whose stored counts were computed before `before`: the ones
/// the maintenance refreshes. Channels nobody has looked at have none and
/// are left alone.
pub fn stale_channels(
    conn: &mut DbConn,
    before: DateTime<Utc>,
) -> Result<Vec<ChannelSlug>, StoreError> {
    Ok(aggregate_snapshots::table
        .filter(aggregate_snapshots::computed_at.lt(to_db(before)))
        .select(aggregate_snapshots::channel)
        .order(aggregate_snapshots::channel.asc())
        .load::<String>(conn)?
        .into_iter()
        .map(ChannelSlug::from_trusted)
        .collect())
}

/// Computes the channel's counts now and stores them.
pub fn refresh(
    conn: &mut DbConn,
    channel: &ChannelSlug,
    months: &[Month],
    program_ends: &[String],
    module_ends: &[String],
    now: DateTime<Utc>,
) -> Result<Snapshot, StoreError> {
    let counts = load(conn, channel, months, program_ends, module_ends)?;
    let json = serde_json::to_string(&counts)
        .map_err(|_| StoreError::Corrupt("aggregate_snapshots.counts"))?;
    let key = scope_key(months, program_ends, module_ends);
    let stored = conn.transaction(|conn| -> Result<usize, StoreError> {
        diesel::delete(aggregate_snapshots::table.find(channel.as_str())).execute(conn)?;
        diesel::insert_into(aggregate_snapshots::table)
            .values((
                aggregate_snapshots::channel.eq(channel.as_str()),
                aggregate_snapshots::scope_key.eq(&key),
                aggregate_snapshots::computed_at.eq(to_db(now)),
                aggregate_snapshots::counts.eq(&json),
            ))
            .execute(conn)
            .map_err(StoreError::from)
    });
    match stored {
        // Another view computed and stored the same channel's counts
        // between our delete and insert (PostgreSQL, where the delete does
        // not see its uncommitted row): theirs stand, ours are as fresh.
        Ok(_) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    Ok(Snapshot {
        counts,
        computed_at: now,
    })
}

#[cfg(test)]
mod tests {

    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use mestring_domain::channel::ChannelSlug;
    use mestring_domain::periods::last_months;

    use super::refresh;
    use crate::schema::aggregate_snapshots;
    use crate::{DatabaseUrl, Store, to_db};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).expect("a valid time")
    }

    /// Two first views of a channel at once on PostgreSQL: one view's
    /// insert of the snapshot meets the other's row, committed while it
    /// waited. The view still gets its counts; before, it failed with a
    /// unique violation (a 500 page for a tool manager).
    #[test]
    fn a_snapshot_stored_by_a_concurrent_view_is_not_an_error_on_postgres() {
        crate::testing::with_postgres_database("mestring_snapshot_race", |url| {
            let store = Store::connect(&DatabaseUrl::parse(url).expect("url"), 4).expect("store");
            store.migrate().expect("migrations");
            let channel = ChannelSlug::from_trusted("direct".to_owned());

            let (ch, view) = (channel.clone(), channel.clone());
            let (held, viewed) = crate::testing::while_held(
                &store,
                move |conn| {
                    // The other view's snapshot, not committed yet.
                    diesel::insert_into(aggregate_snapshots::table)
                        .values((
                            aggregate_snapshots::channel.eq(ch.as_str()),
                            aggregate_snapshots::scope_key.eq("other view"),
                            aggregate_snapshots::computed_at.eq(to_db(now())),
                            aggregate_snapshots::counts.eq("{}"),
                        ))
                        .execute(conn)
                        .map_err(crate::StoreError::from)
                },
                move |conn| refresh(conn, &view, &last_months(now(), 2), &[], &[], now()),
            );
            held.expect("the other view's snapshot");
            let snapshot = viewed.expect("the view gets its counts");
            assert_eq!(snapshot.computed_at, now());
            drop(store);
        });
    }
}
