//! Sharing consent, and the one function through which staff may read a
//! user's data.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use mestring_domain::consent::{self, ConsentEvent, ConsentEventKind, SharingState};
use mestring_domain::id::Id;

use crate::accounts::AccountRow;
use crate::schema::accounts;
use crate::schema::consent_events;
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A stored consent event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consent_events)]
pub struct ConsentRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// [`ConsentEventKind::as_str`].
    pub kind: String,
    /// When it happened.
    #[diesel(deserialize_as = StoredTime)]
    pub at: DateTime<Utc>,
}

impl ConsentRow {
    /// The domain event.
    pub fn event(&self) -> Result<ConsentEvent, StoreError> {
        event_of(&self.kind, self.at)
    }

    /// Appends an event to an account's history.
    pub fn record(
        conn: &mut DbConn,
        account: &Id,
        kind: ConsentEventKind,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // diesel's transaction: a savepoint when the caller already holds
        // one (the settings page decides and records in one transaction).
        conn.transaction(|conn| {
            // The account's row first: two events for one account at once
            // (two tabs, the lapse job) then store its window one after the
            // other, each computed from the complete history.
            diesel::update(accounts::table.find(account.as_str()))
                .set(accounts::sharing_until.eq(accounts::sharing_until))
                .execute(conn)?;
            diesel::insert_into(consent_events::table)
                .values((
                    consent_events::id.eq(Id::generate().as_str()),
                    consent_events::account_id.eq(account.as_str()),
                    consent_events::kind.eq(kind.as_str()),
                    consent_events::at.eq(to_db(at)),
                ))
                .execute(conn)?;
            let window = consent::sharing_window(&Self::history(conn, account)?);
            store_window(conn, account.as_str(), window)
        })
    }

    /// The rows of an account's history, oldest first (insertion order
    /// breaks ties through the time column's precision).
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        consent_events::table
            .filter(consent_events::account_id.eq(account.as_str()))
            .order(consent_events::at.asc())
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// An account's history as domain events, oldest first.
    pub fn history(conn: &mut DbConn, account: &Id) -> Result<Vec<ConsentEvent>, StoreError> {
        Self::list_for_account(conn, account)?
            .iter()
            .map(Self::event)
            .collect()
    }

    /// The histories of several accounts in one query (for lists), keyed
    /// by account id; accounts without events are absent.
    pub fn histories(
        conn: &mut DbConn,
        accounts: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<ConsentEvent>>, StoreError> {
        let rows: Vec<Self> = consent_events::table
            .filter(consent_events::account_id.eq_any(accounts))
            .order(consent_events::at.asc())
            .select(Self::as_select())
            .load(conn)?;
        let mut out: std::collections::HashMap<String, Vec<ConsentEvent>> =
            std::collections::HashMap::new();
        for row in rows {
            let event = row.event()?;
            out.entry(row.account_id.into_string())
                .or_default()
                .push(event);
        }
        Ok(out)
    }

    /// The sharing state of an account at `now`.
    pub fn state(
        conn: &mut DbConn,
        account: &Id,
        now: DateTime<Utc>,
    ) -> Result<SharingState, StoreError> {
        Ok(consent::sharing_state(&Self::history(conn, account)?, now))
    }

    /// Records a `lapsed` event for every account whose sharing has lapsed
    /// without one; returns how many. The lapse itself takes effect in
    /// [`read_shared_account`] to the second; this only keeps the history
    /// the user sees complete.
    pub fn record_due_lapses(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
        // Only accounts whose latest event keeps sharing alive can lapse.
        let live_kinds = [
            ConsentEventKind::Given.as_str(),
            ConsentEventKind::Renewed.as_str(),
        ];
        let candidates: Vec<String> = consent_events::table
            .filter(consent_events::kind.eq_any(live_kinds))
            .select(consent_events::account_id)
            .distinct()
            .load(conn)?;
        let mut n = 0;
        for (account, history) in Self::histories(conn, &candidates)? {
            if let Some(at) = consent::lapse_due(&history, now) {
                Self::record(
                    conn,
                    &Id::from_trusted(account),
                    ConsentEventKind::Lapsed,
                    at,
                )?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Stores an account's sharing window (`consent::sharing_window` of its
/// history; `None`: not sharing) beside the account.
fn store_window(
    conn: &mut DbConn,
    account: &str,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    diesel::update(accounts::table.find(account))
        .set((
            accounts::sharing_since.eq(window.map(|w| to_db(w.0))),
            accounts::sharing_until.eq(window.map(|w| to_db(w.1))),
        ))
        .execute(conn)?;
    Ok(())
}

/// The name of the one-off step that fills the stored sharing windows of
/// accounts whose consent events predate them.
const WINDOW_BACKFILL: &str = "sharing_window";

/// Fills the stored sharing window of every account with consent events,
/// once per database (afterwards one indexed read says it is done).
/// Accounts are locked and recomputed in batches, each in its own
/// transaction, so a consent event recorded meanwhile is not overwritten
/// by an older reading. Returns how many accounts were filled.
pub fn backfill_windows(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    use crate::schema::backfills;
    let done = backfills::table
        .find(WINDOW_BACKFILL)
        .select(backfills::name)
        .first::<String>(conn)
        .optional()?;
    if done.is_some() {
        return Ok(0);
    }
    let accounts: Vec<String> = consent_events::table
        .select(consent_events::account_id)
        .distinct()
        .load(conn)?;
    for chunk in accounts.chunks(1000) {
        crate::conn::transaction_on(conn, |conn| {
            diesel::update(accounts::table.filter(accounts::id.eq_any(chunk)))
                .set(accounts::sharing_until.eq(accounts::sharing_until))
                .execute(conn)?;
            for (account, history) in ConsentRow::histories(conn, chunk)? {
                store_window(conn, &account, consent::sharing_window(&history))?;
            }
            Ok(())
        })?;
    }
    let marked = crate::conn::transaction_on(conn, |conn| {
        diesel::insert_into(backfills::table)
            .values((
                backfills::name.eq(WINDOW_BACKFILL),
                backfills::done_at.eq(to_db(now)),
            ))
            .execute(conn)
            .map_err(StoreError::from)
    });
    match marked {
        // Another node finished the same step first: same result.
        Ok(_) | Err(StoreError::Conflict) => Ok(accounts.len()),
        Err(e) => Err(e),
    }
}

/// A stored event as the domain's; an unknown kind is an error, never a
/// default.
fn event_of(kind: &str, at: DateTime<Utc>) -> Result<ConsentEvent, StoreError> {
    Ok(ConsentEvent {
        kind: ConsentEventKind::parse(kind).map_err(|_| StoreError::UnknownValue {
            column: "consent_events.kind",
            value: kind.to_owned(),
        })?,
        at,
    })
}

/// The most ids one `IN (…)` query carries (SQLite allows 32766 bound
/// values, PostgreSQL 65535).
pub const MAX_IDS_PER_QUERY: usize = 10_000;

/// The overview's gate: the ids of those of `accounts` issued by `org`
/// that share with it at `now` (consent timeline evaluated to the second,
/// as in [`read_shared_account`]), handed to `f` inside one read-only
/// transaction (`f` must not write). Accounts that do not share, or are another organisation's, never reach
/// `f`.
pub fn read_shared_accounts<T>(
    conn: &mut DbConn,
    org: &Id,
    accounts: &[String],
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &[String]) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    crate::conn::read_transaction_on(conn, |conn| {
        let mut sharing = Vec::new();
        for chunk in accounts.chunks(MAX_IDS_PER_QUERY) {
            // The organisation is checked here, not in the query: beside
            // `org_id = ?` SQLite (which keeps no statistics here) walks
            // the organisation's index, reading every one of its accounts
            // (at 1M accounts, thousands of rows scattered over the file:
            // most of the overview's time), instead of looking the ids up.
            let ids: Vec<String> = accounts::table
                .filter(accounts::id.eq_any(chunk))
                .select((accounts::id, accounts::org_id))
                .load::<(String, Option<String>)>(conn)?
                .into_iter()
                .filter(|(_, owner)| owner.as_deref() == Some(org.as_str()))
                .map(|(id, _)| id)
                .collect();
            let histories = ConsentRow::histories(conn, &ids)?;
            let shared: Vec<String> = ids
                .into_iter()
                .filter(|id| {
                    histories
                        .get(id)
                        .is_some_and(|h| consent::sharing_state(h, now).is_sharing())
                })
                .collect();
            sharing.extend(shared);
        }
        f(conn, &sharing)
    })
}

/// What [`read_shared_org`] lets through: every account of one
/// organisation that shares with it at one instant. Only the gate makes
/// one; `crate::overview::narrowed_page_for_org` reads through it.
#[derive(Debug)]
pub struct SharedOrg {
    org: Id,
    now: DateTime<Utc>,
}

impl SharedOrg {
    /// The condition on `accounts` that selects them: issued by the
    /// organisation and inside the stored sharing window at `now`
    /// (`sharing_since <= now < sharing_until`; index
    /// `accounts_org_sharing`). Usable on `accounts` and on joins with it.
    pub(crate) fn filter(&self) -> SharingAt {
        sharing_at(self.org.as_str().to_owned(), to_db(self.now))
    }
}

/// The type of [`sharing_at`]'s expression.
pub(crate) type SharingAt = sharing_at;

#[allow(non_camel_case_types)]
#[diesel::dsl::auto_type]
fn sharing_at(org: String, now: NaiveDateTime) -> _ {
    accounts::org_id
        .eq(org)
        .and(accounts::sharing_until.gt(now))
        .and(accounts::sharing_since.le(now))
        .assume_not_null()
}

/// [`read_shared_accounts`] over every account of `org`, for the
/// overview's filters, which look at all of them: the gate is the sharing
/// window stored beside each account (kept up to date in the transaction
/// of every consent event, see [`ConsentRow::record`]), read through an
/// index, instead of every consent history of the organisation. It
/// decides as the histories do for any `now` at or after the latest event
/// (`consent::sharing_window`, property-tested), to the second.
pub fn read_shared_org<T>(
    conn: &mut DbConn,
    org: &Id,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &SharedOrg) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    crate::conn::read_transaction_on(conn, |conn| {
        let shared = SharedOrg {
            org: org.clone(),
            now,
        };
        f(conn, &shared)
    })
}

/// The outcome of a staff read.
#[derive(Debug)]
pub enum SharedRead<T> {
    /// The user shares with this organisation right now; here is the data.
    Shared(T),
    /// The account is this organisation's, but sharing is not active.
    NotShared(SharingState),
    /// No such account for this organisation (also for other
    /// organisations' accounts, so ids reveal nothing).
    NotFound,
}

/// The function through which staff read one user's data (the overview's
/// many-account counterpart is [`read_shared_accounts`]).
///
/// Checks that the account was issued by `org`, evaluates the consent
/// timeline at `now` (so a withdrawal or a lapse takes effect to the
/// second, without waiting for a job), and only then runs `f`, inside the
/// same transaction so the decision and the read see the same state. The
/// transaction takes no write lock (`f` must not write; the caller writes
/// its access-log row after it).
pub fn read_shared_account<T>(
    conn: &mut DbConn,
    org: &Id,
    account: &Id,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &AccountRow) -> Result<T, StoreError>,
) -> Result<SharedRead<T>, StoreError> {
    crate::conn::read_transaction_on(conn, |conn| {
        let row: Option<AccountRow> = accounts::table
            .find(account.as_str())
            .filter(accounts::org_id.eq(org.as_str()))
            .select(AccountRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else {
            return Ok(SharedRead::NotFound);
        };
        let state = ConsentRow::state(conn, account, now)?;
        if !state.is_sharing() {
            return Ok(SharedRead::NotShared(state));
        }
        f(conn, &row).map(SharedRead::Shared)
    })
}
