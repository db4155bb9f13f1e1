//! Bulk inserts for synthetic data (`mestring seed`): `COPY` on
//! PostgreSQL, multi-row INSERTs on SQLite, one transaction per call. Only the
//! seeder uses this; the app writes row by row through the other modules.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{account_keys, accounts};
use crate::schema::{
    activity_days, measure_summaries, questionnaire_responses, registration_entries,
    registration_values, step_progress,
};
use crate::schema::{code_batch_items, code_batches};
use crate::schema::{consent_events, deletion_records};
use crate::{DbConn, StoreError, to_db};

/// Bound values one statement may carry: SQLite's limit is 32766, and
/// PostgreSQL's 65535; staying well below keeps statements small.
const MAX_BINDS: usize = 30_000;

/// One synthetic account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Id.
    pub id: String,
    /// HMAC of its code.
    pub code_hash: String,
    /// Issuing organisation.
    pub org_id: Option<String>,
    /// Program.
    pub program_slug: Option<String>,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The sealed pseudonym.
    pub pseudonym: Option<Vec<u8>>,
}

/// One consent event.
#[derive(Debug, Clone)]
pub struct Consent {
    /// Account.
    pub account_id: String,
    /// `given`, `withdrawn`, …
    pub kind: &'static str,
    /// When.
    pub at: DateTime<Utc>,
}

/// One questionnaire response with its answers.
#[derive(Debug, Clone)]
pub struct Response {
    /// Id.
    pub id: String,
    /// Account.
    pub account_id: String,
    /// `phq9`, `gad7`.
    pub questionnaire_id: &'static str,
    /// Total.
    pub total: i64,
    /// Band id.
    pub band_id: String,
    /// Space-separated flags.
    pub flags: String,
    /// When.
    pub completed_at: DateTime<Utc>,
    /// (item, option value = weight).
    pub answers: Vec<(String, i64)>,
}

/// One completed (or seen) step.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Account.
    pub account_id: String,
    /// Program.
    pub program_slug: String,
    /// Step.
    pub step_id: String,
    /// First seen.
    pub seen_at: DateTime<Utc>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One registration with scale values.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Id.
    pub id: String,
    /// Account.
    pub account_id: String,
    /// Form.
    pub registration_id: &'static str,
    /// When.
    pub created_at: DateTime<Utc>,
    /// (field, kind, category, number).
    pub values: Vec<(&'static str, &'static str, String, Option<i64>)>,
}

/// One batch of codes issued by an organisation.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Id.
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Program.
    pub program_slug: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// (account, issued hash).
    pub items: Vec<(String, String)>,
}

/// One day of use (the activity the user sees, and group data reads).
#[derive(Debug, Clone)]
pub struct ActivityDay {
    /// Account.
    pub account_id: String,
    /// Oslo date, `YYYY-MM-DD`.
    pub day: String,
    /// Minutes (a multiple of five).
    pub minutes: i64,
    /// Last request that day.
    pub last_seen_at: DateTime<Utc>,
}

/// Everything one seeding chunk writes.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Code batches (written before nothing else needs them).
    pub batches: Vec<Batch>,
    /// Consent events.
    pub consents: Vec<Consent>,
    /// Responses.
    pub responses: Vec<Response>,
    /// Progress.
    pub progress: Vec<Progress>,
    /// Registrations.
    pub registrations: Vec<Registration>,
    /// Deletion records: (org, deleted at).
    pub deletions: Vec<(String, DateTime<Utc>)>,
    /// Days of use.
    pub activity: Vec<ActivityDay>,
}

/// How many rows a call wrote.
pub fn rows(chunk: &Chunk) -> usize {
    chunk.accounts.len()
        + chunk.batches.len()
        + chunk.batches.iter().map(|b| b.items.len()).sum::<usize>()
        + chunk.consents.len()
        + chunk.responses.len()
        // One data key per account with answers.
        + chunk
            .responses
            .iter()
            .map(|r| r.account_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
        + chunk.progress.len()
        + chunk.registrations.len()
        + chunk
            .registrations
            .iter()
            .map(|r| r.values.len())
            .sum::<usize>()
        + chunk.deletions.len()
        + chunk.activity.len()
        + chunk
            .responses
            .iter()
            .map(|r| (r.account_id.as_str(), r.questionnaire_id))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
}

/// Writes `rows`: on PostgreSQL with one `COPY … FROM STDIN (FORMAT
/// binary)`, several times faster than INSERTs; on SQLite with multi-row
/// INSERTs of at most [`MAX_BINDS`] bound values each. (Batch statements
/// are not part of diesel's multi-backend connection, so each backend is
/// addressed directly.)
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $cols:expr, $rows:expr) => {{
        match &mut *$conn {
            DbConn::Pg(c) => {
                if !$rows.is_empty() {
                    diesel::copy_from($table)
                        .from_insertable(&$rows)
                        .execute(c)?;
                }
            }
            DbConn::Sqlite(c) => {
                for part in $rows.chunks((MAX_BINDS / $cols).max(1)) {
                    diesel::insert_into($table).values(part).execute(c)?;
                }
            }
        }
    }};
}

/// Writes one chunk in one transaction. Accounts with answers get a data
/// key (wrapped under the current key-encryption key of `ring`) and their
/// item answers are sealed under it, as the app does.
pub fn insert(
    conn: &mut DbConn,
    ring: &mestring_crypto::shred::KekRing,
    chunk: &Chunk,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut keys: std::collections::BTreeMap<&str, mestring_crypto::shred::DataKey> =
        std::collections::BTreeMap::new();
    for r in &chunk.responses {
        keys.entry(r.account_id.as_str())
            .or_insert_with(mestring_crypto::shred::DataKey::generate);
    }
    let mut wrapped = Vec::with_capacity(keys.len());
    for (account, key) in &keys {
        let (kek, bytes) = ring
            .wrap(account, key)
            .ok_or_else(|| StoreError::Keys("no key-encryption key in the ring".into()))?;
        wrapped.push((*account, i64::from(kek), bytes));
    }
    let sealed: Vec<Vec<u8>> = chunk
        .responses
        .iter()
        .map(|r| {
            let answers: Vec<crate::account_keys::SealedAnswer> = r
                .answers
                .iter()
                .map(|(item, value)| (item.clone(), *value, *value))
                .collect();
            // Every response's account got a key just above.
            keys.get(r.account_id.as_str())
                .map(|k| crate::responses::seal_answers(k, &r.id, &answers))
                .unwrap_or_default()
        })
        .collect();
    // Each account's sharing window from its consent events in this chunk,
    // as `ConsentRow::record` stores it (the overview's gate reads it).
    let mut histories: std::collections::HashMap<
        &str,
        Vec<mestring_domain::consent::ConsentEvent>,
    > = std::collections::HashMap::new();
    for c in &chunk.consents {
        let kind = mestring_domain::consent::ConsentEventKind::parse(c.kind).map_err(|_| {
            StoreError::UnknownValue {
                column: "consent_events.kind",
                value: c.kind.to_owned(),
            }
        })?;
        histories
            .entry(c.account_id.as_str())
            .or_default()
            .push(mestring_domain::consent::ConsentEvent { kind, at: c.at });
    }
    let window = |account: &str| {
        histories
            .get(account)
            .and_then(|h| mestring_domain::consent::sharing_window(h))
    };
    crate::conn::transaction_on(conn, |conn| {
        let rows: Vec<_> = chunk
            .accounts
            .iter()
            .map(|a| {
                let window = window(&a.id);
                (
                    accounts::id.eq(&a.id),
                    accounts::code_hash.eq(&a.code_hash),
                    accounts::org_id.eq(a.org_id.as_deref()),
                    accounts::program_slug.eq(a.program_slug.as_deref()),
                    accounts::created_at.eq(to_db(a.created_at)),
                    accounts::last_login_at.eq(a.last_login_at.map(to_db)),
                    accounts::pseudonym.eq(a.pseudonym.as_deref()),
                    accounts::sharing_since.eq(window.map(|w| to_db(w.0))),
                    accounts::sharing_until.eq(window.map(|w| to_db(w.1))),
                )
            })
            .collect();
        insert_chunked!(conn, accounts::table, 9, rows);
        let rows: Vec<_> = chunk
            .batches
            .iter()
            .map(|b| {
                (
                    code_batches::id.eq(&b.id),
                    code_batches::org_id.eq(&b.org_id),
                    code_batches::program_slug.eq(Some(b.program_slug.as_str())),
                    code_batches::created_at.eq(to_db(b.created_at)),
                    // A seeded batch's sheet counts as shown.
                    code_batches::sheet_shown_at.eq(Some(to_db(b.created_at))),
                )
            })
            .collect();
        insert_chunked!(conn, code_batches::table, 5, rows);
        let rows: Vec<_> = chunk
            .batches
            .iter()
            .flat_map(|b| {
                b.items.iter().map(|(account, hash)| {
                    (
                        code_batch_items::account_id.eq(account),
                        code_batch_items::batch_id.eq(&b.id),
                        code_batch_items::issued_hash.eq(hash),
                    )
                })
            })
            .collect();
        insert_chunked!(conn, code_batch_items::table, 3, rows);
        let ids: Vec<String> = chunk
            .consents
            .iter()
            .map(|_| mestring_domain::id::Id::generate().to_string())
            .collect();
        let rows: Vec<_> = chunk
            .consents
            .iter()
            .zip(&ids)
            .map(|(c, id)| {
                (
                    consent_events::id.eq(id),
                    consent_events::account_id.eq(&c.account_id),
                    consent_events::kind.eq(c.kind),
                    consent_events::at.eq(to_db(c.at)),
                )
            })
            .collect();
        insert_chunked!(conn, consent_events::table, 4, rows);
        let rows: Vec<_> = chunk
            .responses
            .iter()
            .zip(&sealed)
            .map(|(r, sealed)| {
                (
                    questionnaire_responses::id.eq(&r.id),
                    questionnaire_responses::account_id.eq(&r.account_id),
                    questionnaire_responses::questionnaire_id.eq(r.questionnaire_id),
                    questionnaire_responses::questionnaire_version.eq(1_i64),
                    questionnaire_responses::total.eq(r.total),
                    questionnaire_responses::band_id.eq(&r.band_id),
                    questionnaire_responses::flags.eq(&r.flags),
                    questionnaire_responses::prorated.eq(false),
                    questionnaire_responses::completed_at.eq(to_db(r.completed_at)),
                    questionnaire_responses::answers_sealed.eq(Some(sealed)),
                )
            })
            .collect();
        insert_chunked!(conn, questionnaire_responses::table, 10, rows);
        let rows: Vec<_> = wrapped
            .iter()
            .map(|(account, kek, bytes)| {
                (
                    account_keys::account_id.eq(*account),
                    account_keys::kek_id.eq(*kek),
                    account_keys::wrapped.eq(bytes),
                    account_keys::created_at.eq(to_db(now)),
                )
            })
            .collect();
        insert_chunked!(conn, account_keys::table, 4, rows);
        // The one-row summaries the app keeps per answer
        // (`overview::refresh_measure`), built here from the same rows.
        let mut measures: std::collections::BTreeMap<(&str, &str), (&Response, &Response, i64)> =
            std::collections::BTreeMap::new();
        for r in &chunk.responses {
            let slot = measures
                .entry((r.account_id.as_str(), r.questionnaire_id))
                .or_insert((r, r, 0));
            if r.completed_at < slot.0.completed_at {
                slot.0 = r;
            }
            if r.completed_at >= slot.1.completed_at {
                slot.1 = r;
            }
            slot.2 += 1;
        }
        let rows: Vec<_> = measures
            .iter()
            .map(|((account, questionnaire), (first, latest, n))| {
                (
                    measure_summaries::account_id.eq(*account),
                    measure_summaries::questionnaire_id.eq(*questionnaire),
                    measure_summaries::first_total.eq(first.total),
                    measure_summaries::latest_total.eq(latest.total),
                    measure_summaries::latest_band.eq(&latest.band_id),
                    measure_summaries::latest_flags.eq(&latest.flags),
                    measure_summaries::answers.eq(*n),
                    measure_summaries::latest_at.eq(to_db(latest.completed_at)),
                )
            })
            .collect();
        insert_chunked!(conn, measure_summaries::table, 8, rows);
        let ids: Vec<String> = chunk
            .progress
            .iter()
            .map(|_| mestring_domain::id::Id::generate().to_string())
            .collect();
        let rows: Vec<_> = chunk
            .progress
            .iter()
            .zip(&ids)
            .map(|(p, id)| {
                (
                    step_progress::id.eq(id),
                    step_progress::account_id.eq(&p.account_id),
                    step_progress::program_slug.eq(&p.program_slug),
                    step_progress::step_id.eq(&p.step_id),
                    step_progress::first_seen_at.eq(to_db(p.seen_at)),
                    step_progress::completed_at.eq(p.completed_at.map(to_db)),
                )
            })
            .collect();
        insert_chunked!(conn, step_progress::table, 6, rows);
        let rows: Vec<_> = chunk
            .registrations
            .iter()
            .map(|r| {
                (
                    registration_entries::id.eq(&r.id),
                    registration_entries::account_id.eq(&r.account_id),
                    registration_entries::registration_id.eq(r.registration_id),
                    registration_entries::form_version.eq(1_i64),
                    registration_entries::created_at.eq(to_db(r.created_at)),
                )
            })
            .collect();
        insert_chunked!(conn, registration_entries::table, 5, rows);
        let rows: Vec<_> = chunk
            .registrations
            .iter()
            .flat_map(|r| {
                r.values.iter().map(|(field, kind, category, num)| {
                    (
                        registration_values::entry_id.eq(&r.id),
                        registration_values::account_id.eq(&r.account_id),
                        registration_values::field_id.eq(*field),
                        registration_values::kind.eq(*kind),
                        registration_values::category_id.eq(category),
                        registration_values::num_value.eq(*num),
                    )
                })
            })
            .collect();
        insert_chunked!(conn, registration_values::table, 6, rows);
        let ids: Vec<String> = chunk
            .deletions
            .iter()
            .map(|_| mestring_domain::id::Id::generate().to_string())
            .collect();
        let rows: Vec<_> = chunk
            .deletions
            .iter()
            .zip(&ids)
            .map(|((org, at), id)| {
                (
                    deletion_records::id.eq(id),
                    deletion_records::org_id.eq(org),
                    deletion_records::deleted_at.eq(to_db(*at)),
                )
            })
            .collect();
        insert_chunked!(conn, deletion_records::table, 3, rows);
        let rows: Vec<_> = chunk
            .activity
            .iter()
            .map(|a| {
                (
                    activity_days::account_id.eq(&a.account_id),
                    activity_days::day.eq(&a.day),
                    activity_days::logins.eq(1_i64),
                    activity_days::minutes.eq(a.minutes),
                    activity_days::last_seen_at.eq(to_db(a.last_seen_at)),
                )
            })
            .collect();
        insert_chunked!(conn, activity_days::table, 5, rows);
        Ok(())
    })
}

/// The tables the seeder fills.
const SEEDED_TABLES: [&str; 12] = [
    "accounts",
    "account_keys",
    "code_batches",
    "code_batch_items",
    "consent_events",
    "deletion_records",
    "activity_days",
    "measure_summaries",
    "questionnaire_responses",
    "registration_entries",
    "registration_values",
    "step_progress",
];

/// One index as the database describes it.
#[derive(Debug, Clone, QueryableByName)]
pub struct IndexDef {
    /// Its name.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    /// The statement that creates it.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub sql: String,
}

/// Whether the database holds no accounts and no deletion records yet: a
/// fresh one, where loading without indexes is safe (nothing reads it).
pub fn is_fresh(conn: &mut DbConn) -> Result<bool, StoreError> {
    let accounts: i64 = accounts::table.count().get_result(conn)?;
    let deleted: i64 = deletion_records::table.count().get_result(conn)?;
    Ok(accounts == 0 && deleted == 0)
}

/// Drops the seeded tables' non-unique secondary indexes and returns them,
/// to be built again by [`create_indexes`] once the rows are in: building
/// an index once over sorted keys is far cheaper than keeping it up to date
/// through millions of inserts at random places. Primary keys and unique
/// indexes stay, so duplicates are still refused as they arrive.
pub fn drop_secondary_indexes(conn: &mut DbConn) -> Result<Vec<IndexDef>, StoreError> {
    let tables = SEEDED_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let query = match conn {
        DbConn::Sqlite(_) => format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
             AND sql IS NOT NULL AND tbl_name IN ({tables})"
        ),
        DbConn::Pg(_) => format!(
            "SELECT indexname::text AS name, indexdef AS sql FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ({tables})"
        ),
    };
    let all: Vec<IndexDef> = diesel::sql_query(query).load(conn)?;
    let secondary: Vec<IndexDef> = all
        .into_iter()
        .filter(|i| {
            !i.sql
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("CREATE UNIQUE")
        })
        .collect();
    crate::conn::transaction_on(conn, |conn| {
        for index in &secondary {
            diesel::sql_query(format!("DROP INDEX \"{}\"", index.name)).execute(conn)?;
        }
        Ok(())
    })?;
    Ok(secondary)
}

/// Creates `indexes` (from [`drop_secondary_indexes`]) again.
pub fn create_indexes(conn: &mut DbConn, indexes: &[IndexDef]) -> Result<(), StoreError> {
    for index in indexes {
        diesel::sql_query(&index.sql).execute(conn)?;
    }
    Ok(())
}
