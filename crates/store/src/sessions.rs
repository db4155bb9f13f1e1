//! Server-side sessions, stored by the SHA-256 of their token.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;
use mestring_domain::policy;

use crate::accounts::AccountRow;
use crate::schema::{accounts, code_batch_items, sessions};
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A session row; the token itself is never stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The account logged in.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// When the session was created.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the session was last used.
    #[diesel(deserialize_as = StoredTime)]
    pub last_seen_at: DateTime<Utc>,
    /// HMAC of a new code shown during rotation, awaiting confirmation.
    pub pending_code_hash: Option<String>,
}

pub use mestring_domain::policy::SessionLimits;

impl SessionRow {
    /// Whether the session is still alive at `now`.
    pub fn is_live(&self, limits: SessionLimits, now: DateTime<Utc>) -> bool {
        limits.allow(self.created_at, self.last_seen_at, now)
    }

    /// Stores a new session.
    pub fn insert(
        conn: &mut DbConn,
        token_hash: &str,
        account: &Id,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(token_hash),
                sessions::account_id.eq(account.as_str()),
                sessions::created_at.eq(to_db(now)),
                sessions::last_seen_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Finds a live session and its account, refreshing `last_seen_at`.
    /// An expired session is deleted on sight.
    pub fn resume(
        conn: &mut DbConn,
        token_hash: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<(Self, AccountRow)>, StoreError> {
        let found: Option<(Self, AccountRow)> = sessions::table
            .inner_join(accounts::table)
            .filter(sessions::token_hash.eq(token_hash))
            .select((Self::as_select(), AccountRow::as_select()))
            .first(conn)
            .optional()?;
        let Some((session, account)) = found else {
            return Ok(None);
        };
        Self::keep_if_live(conn, token_hash, limits, now, session, account)
    }

    /// As [`Self::resume`], and whether the account still logs in with the
    /// code its organisation issued (the home page then offers to replace
    /// it). The codes are compared in the database, in the same statement
    /// as the session lookup: on PostgreSQL every statement is a network
    /// round trip, and the home page is the most visited.
    pub fn resume_noting_issued_code(
        conn: &mut DbConn,
        token_hash: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<(Self, AccountRow, bool)>, StoreError> {
        let found: Option<(Self, AccountRow, Option<String>)> = sessions::table
            .inner_join(accounts::table)
            .left_join(
                code_batch_items::table.on(code_batch_items::account_id
                    .eq(accounts::id)
                    .and(code_batch_items::issued_hash.eq(accounts::code_hash))),
            )
            .filter(sessions::token_hash.eq(token_hash))
            .select((
                Self::as_select(),
                AccountRow::as_select(),
                code_batch_items::account_id.nullable(),
            ))
            .first(conn)
            .optional()?;
        let Some((session, account, issued)) = found else {
            return Ok(None);
        };
        let live = Self::keep_if_live(conn, token_hash, limits, now, session, account)?;
        Ok(live.map(|(session, account)| (session, account, issued.is_some())))
    }

    /// The session found, if it is still live at `now`; else deletes it.
    fn keep_if_live(
        conn: &mut DbConn,
        token_hash: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
        session: Self,
        account: AccountRow,
    ) -> Result<Option<(Self, AccountRow)>, StoreError> {
        if !session.is_live(limits, now) || account.deactivated_at.is_some() {
            Self::delete(conn, token_hash)?;
            return Ok(None);
        }
        // Writing on every request would serialise all traffic on SQLite;
        // a minute of slack in the idle timeout is harmless.
        if now - session.last_seen_at >= policy::session::TOUCH_SLACK {
            diesel::update(sessions::table.find(token_hash))
                .set(sessions::last_seen_at.eq(to_db(now)))
                .execute(conn)?;
        }
        Ok(Some((session, account)))
    }

    /// Sets or clears the pending new code of a rotation in progress.
    pub fn set_pending_code(
        conn: &mut DbConn,
        token_hash: &str,
        pending: Option<&str>,
    ) -> Result<(), StoreError> {
        diesel::update(sessions::table.find(token_hash))
            .set(sessions::pending_code_hash.eq(pending))
            .execute(conn)?;
        Ok(())
    }

    /// The pending new code of this session's rotation, if any.
    pub fn pending_code(conn: &mut DbConn, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(sessions::table
            .find(token_hash)
            .select(sessions::pending_code_hash)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten())
    }

    /// Ends one session.
    pub fn delete(conn: &mut DbConn, token_hash: &str) -> Result<(), StoreError> {
        diesel::delete(sessions::table.find(token_hash)).execute(conn)?;
        Ok(())
    }

    /// Ends every session of an account, optionally sparing one (the
    /// session that asked, e.g. after a code rotation).
    pub fn delete_for_account(
        conn: &mut DbConn,
        account: &Id,
        except_token_hash: Option<&str>,
    ) -> Result<usize, StoreError> {
        let q = sessions::table.filter(sessions::account_id.eq(account.as_str()));
        let n = match except_token_hash {
            Some(keep) => diesel::delete(q.filter(sessions::token_hash.ne(keep))).execute(conn)?,
            None => diesel::delete(q).execute(conn)?,
        };
        Ok(n)
    }

    /// Deletes sessions that can no longer be resumed.
    pub fn purge_expired(
        conn: &mut DbConn,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let n = diesel::delete(
            sessions::table.filter(
                sessions::last_seen_at
                    .le(to_db(now - limits.idle))
                    .or(sessions::created_at.le(to_db(now - limits.absolute))),
            ),
        )
        .execute(conn)?;
        Ok(n)
    }
}
