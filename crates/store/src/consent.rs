//! Sharing consent, and the one function through which staff may read a
//! user's data.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use mestring_domain::consent::{self, ConsentEvent, ConsentEventKind, SharingState};
use mestring_domain::id::Id;

use crate::accounts::AccountRow;
use crate::schema::accounts;
use crate::schema_consent::consent_events;
use crate::{DbConn, StoreError, from_db, to_db};

/// A stored consent event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consent_events)]
pub struct ConsentRow {
    /// Random id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// [`ConsentEventKind::as_str`].
    pub kind: String,
    at: NaiveDateTime,
}

impl ConsentRow {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        from_db(self.at)
    }

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
        diesel::insert_into(consent_events::table)
            .values((
                consent_events::id.eq(Id::generate().as_str()),
                consent_events::account_id.eq(account.as_str()),
                consent_events::kind.eq(kind.as_str()),
                consent_events::at.eq(to_db(at)),
            ))
            .execute(conn)?;
        Ok(())
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
            out.entry(row.account_id).or_default().push(event);
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

/// A stored event as the domain's; an unknown kind is an error, never a
/// default.
fn event_of(kind: &str, at: NaiveDateTime) -> Result<ConsentEvent, StoreError> {
    Ok(ConsentEvent {
        kind: ConsentEventKind::parse(kind).map_err(|_| StoreError::UnknownValue {
            column: "consent_events.kind",
            value: kind.to_owned(),
        })?,
        at: from_db(at),
    })
}

/// The most ids one `IN (…)` query carries (SQLite allows 32766 bound
/// values, PostgreSQL 65535).
pub const MAX_IDS_PER_QUERY: usize = 10_000;

/// The overview's gate: the ids of those of `accounts` issued by `org`
/// that share with it at `now` (consent timeline evaluated to the second,
/// as in [`read_shared_account`]), handed to `f` inside one transaction.
/// Accounts that do not share, or are another organisation's, never reach
/// `f`.
pub fn read_shared_accounts<T>(
    conn: &mut DbConn,
    org: &Id,
    accounts: &[String],
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &[String]) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    crate::conn::transaction_on(conn, |conn| {
        let mut sharing = Vec::new();
        for chunk in accounts.chunks(MAX_IDS_PER_QUERY) {
            let ids: Vec<String> = accounts::table
                .filter(accounts::id.eq_any(chunk))
                .filter(accounts::org_id.eq(org.as_str()))
                .select(accounts::id)
                .load(conn)?;
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

/// [`read_shared_accounts`] over every account of `org`: the consent
/// histories come from one query joined on the organisation rather than
/// from lists of ids (the overview's filters look at all of them).
pub fn read_shared_org<T>(
    conn: &mut DbConn,
    org: &Id,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &[String]) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    crate::conn::transaction_on(conn, |conn| {
        let rows: Vec<(String, String, NaiveDateTime)> = consent_events::table
            .inner_join(accounts::table)
            .filter(accounts::org_id.eq(org.as_str()))
            .order((consent_events::account_id.asc(), consent_events::at.asc()))
            .select((
                consent_events::account_id,
                consent_events::kind,
                consent_events::at,
            ))
            .load(conn)?;
        let mut histories: std::collections::BTreeMap<String, Vec<ConsentEvent>> =
            std::collections::BTreeMap::new();
        for (account, kind, at) in rows {
            let event = event_of(&kind, at)?;
            histories.entry(account).or_default().push(event);
        }
        let shared: Vec<String> = histories
            .into_iter()
            .filter(|(_, h)| consent::sharing_state(h, now).is_sharing())
            .map(|(id, _)| id)
            .collect();
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
/// same transaction so the decision and the read see the same state.
pub fn read_shared_account<T>(
    conn: &mut DbConn,
    org: &Id,
    account: &Id,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut DbConn, &AccountRow) -> Result<T, StoreError>,
) -> Result<SharedRead<T>, StoreError> {
    crate::conn::transaction_on(conn, |conn| {
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
