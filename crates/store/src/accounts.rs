//! Accounts: one per access code, found by the code's HMAC.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use mestring_domain::access_code::CodeHash;
use mestring_domain::id::Id;
use mestring_domain::policy;

use crate::schema::accounts;
use crate::stored_id::{StoredId, StoredOptionalId};
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// An account row. `code_hash` is an HMAC, never the code itself.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// HMAC of the code (never the code).
    pub code_hash: String,
    /// The organisation that issued the code; `None` for bought codes.
    #[diesel(deserialize_as = StoredOptionalId)]
    pub org_id: Option<Id>,
    /// The program the code was issued for, if any.
    pub program_slug: Option<String>,
    /// When the code was issued.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the code was last used to log in.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the account was deactivated, if it was.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The issued code sealed for the issuing organisation's staff.
    pub pseudonym: Option<Vec<u8>>,
    /// The login before the latest one: when the code was used before the
    /// current session began (shown to the user, so misuse is visible).
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub previous_login_at: Option<DateTime<Utc>>,
}

/// What a new account needs.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// HMAC of the code.
    pub code_hash: &'a CodeHash,
    /// Issuing organisation.
    pub org_id: Option<&'a Id>,
    /// Program slug.
    pub program_slug: Option<&'a str>,
    /// The code sealed for the issuing organisation (its pseudonym).
    pub pseudonym: Option<&'a [u8]>,
}

impl AccountRow {
    /// Whether the code may log in at `now`: not deactivated and within
    /// its lifetime.
    pub fn can_log_in(&self, now: DateTime<Utc>) -> bool {
        self.deactivated_at.is_none()
            && mestring_domain::retention::code_is_active(self.created_at, self.last_login_at, now)
    }

    /// Creates an account for a new code.
    pub fn insert(
        conn: &mut DbConn,
        new: &NewAccount<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(id.as_str()),
                accounts::code_hash.eq(new.code_hash.as_str()),
                accounts::org_id.eq(new.org_id.map(Id::as_str)),
                accounts::program_slug.eq(new.program_slug),
                accounts::pseudonym.eq(new.pseudonym),
                accounts::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// Finds the account a code belongs to (unique index lookup).
    pub fn find_by_code_hash(
        conn: &mut DbConn,
        hash: &CodeHash,
    ) -> Result<Option<Self>, StoreError> {
        accounts::table
            .filter(accounts::code_hash.eq(hash.as_str()))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// Finds an account by id.
    pub fn find(conn: &mut DbConn, id: &Id) -> Result<Self, StoreError> {
        accounts::table
            .find(id.as_str())
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Records a successful login; the login before it moves to
    /// `previous_login_at`.
    pub fn record_login(conn: &mut DbConn, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        diesel::update(accounts::table.find(id.as_str()))
            .set((
                accounts::previous_login_at.eq(accounts::last_login_at),
                accounts::last_login_at.eq(Some(to_db(now))),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Records a login with the code whose HMAC is `code_hash`, but only
    /// while the account still has that code and is not deactivated; returns
    /// whether it did. The caller found the account by that hash in an
    /// earlier read: a code replaced (`POST /settings/code/confirm`) or an
    /// account deactivated since then makes this write change nothing, and
    /// the login must fail. The check is the UPDATE's own filter, so it sees
    /// what was committed last: on SQLite the caller's write transaction
    /// comes after the replacement's, and on PostgreSQL the UPDATE waits for
    /// a replacement in flight and re-checks the row it committed. It also
    /// locks the row until the caller commits, so a replacement that comes
    /// later waits, and its "every other session ends" sees this login's
    /// session.
    pub fn record_code_login(
        conn: &mut DbConn,
        id: &Id,
        code_hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(accounts::table.find(id.as_str()))
            .filter(accounts::code_hash.eq(code_hash.as_str()))
            .filter(accounts::deactivated_at.is_null())
            .set((
                accounts::previous_login_at.eq(accounts::last_login_at),
                accounts::last_login_at.eq(Some(to_db(now))),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Replaces the account's code: the old code stops working at once.
    /// The organisation's pseudonym (the issued code) is left untouched.
    pub fn replace_code(conn: &mut DbConn, id: &Id, new_hash: &CodeHash) -> Result<(), StoreError> {
        diesel::update(accounts::table.find(id.as_str()))
            .set(accounts::code_hash.eq(new_hash.as_str()))
            .execute(conn)?;
        Ok(())
    }

    /// Marks an account deactivated; its code can no longer log in.
    pub fn deactivate(conn: &mut DbConn, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        diesel::update(accounts::table.find(id.as_str()))
            .filter(accounts::deactivated_at.is_null())
            .set(accounts::deactivated_at.eq(Some(to_db(now))))
            .execute(conn)?;
        Ok(())
    }

    /// Deactivates every account whose code has outlived its lifetime;
    /// returns how many. The SQL filter is a coarse pre-selection (a few
    /// days early); the exact calendar rule is applied per row.
    pub fn deactivate_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let coarse = to_db(now - Duration::days(365 * i64::from(policy::code::LIFETIME_YEARS) - 3));
        let candidates: Vec<Self> = accounts::table
            .filter(accounts::deactivated_at.is_null())
            .filter(accounts::created_at.le(coarse))
            .filter(
                accounts::last_login_at
                    .is_null()
                    .or(accounts::last_login_at.le(coarse)),
            )
            .select(Self::as_select())
            .load(conn)?;
        let mut n = 0;
        for row in candidates.iter().filter(|r| !r.can_log_in(now)) {
            Self::deactivate(conn, &row.id, now)?;
            n += 1;
        }
        Ok(n)
    }
}
