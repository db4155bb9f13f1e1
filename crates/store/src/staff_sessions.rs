//! Staff sessions, stored by the SHA-256 of their token, apart from
//! end-user sessions (other cookie, other limits).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;
use mestring_domain::policy::session::{PENDING_STAFF_LOGIN, TOUCH_SLACK};

use crate::schema::{staff, staff_sessions};
use crate::sessions::SessionLimits;
use crate::staff::StaffRow;
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A staff session row; the token itself is never stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff_sessions)]
pub struct StaffSessionRow {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Who is logged in.
    #[diesel(deserialize_as = StoredId)]
    pub staff_id: Id,
    /// Whether both factors were given (false: only the password).
    pub verified: bool,
    /// When the login began.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the session was last used.
    #[diesel(deserialize_as = StoredTime)]
    pub last_seen_at: DateTime<Utc>,
}

impl StaffSessionRow {
    /// Whether the session is alive at `now` (a pending one lives only
    /// [`PENDING_STAFF_LOGIN`]).
    pub fn is_live(&self, limits: SessionLimits, now: DateTime<Utc>) -> bool {
        let created = self.created_at;
        if !self.verified {
            return now < created + PENDING_STAFF_LOGIN;
        }
        limits.allow(created, self.last_seen_at, now)
    }

    /// Stores a new session.
    pub fn insert(
        conn: &mut DbConn,
        token_hash: &str,
        staff_id: &Id,
        verified: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(staff_sessions::table)
            .values((
                staff_sessions::token_hash.eq(token_hash),
                staff_sessions::staff_id.eq(staff_id.as_str()),
                staff_sessions::verified.eq(verified),
                staff_sessions::created_at.eq(to_db(now)),
                staff_sessions::last_seen_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Finds a live session and its staff member, refreshing
    /// `last_seen_at`. Expired sessions, and every session of a
    /// deactivated person, are deleted on sight: deactivation takes effect
    /// on the next request even if ending the sessions had failed.
    pub fn resume(
        conn: &mut DbConn,
        token_hash: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<(Self, StaffRow)>, StoreError> {
        let found: Option<(Self, StaffRow)> = staff_sessions::table
            .inner_join(staff::table)
            .filter(staff_sessions::token_hash.eq(token_hash))
            .select((Self::as_select(), StaffRow::as_select()))
            .first(conn)
            .optional()?;
        let Some((session, person)) = found else {
            return Ok(None);
        };
        if person.deactivated_at.is_some() {
            Self::delete_for_staff(conn, &person.id)?;
            return Ok(None);
        }
        if !session.is_live(limits, now) {
            Self::delete(conn, token_hash)?;
            return Ok(None);
        }
        // As for user sessions: the slack spares a write per request.
        if session.verified && now - session.last_seen_at >= TOUCH_SLACK {
            diesel::update(staff_sessions::table.find(token_hash))
                .set(staff_sessions::last_seen_at.eq(to_db(now)))
                .execute(conn)?;
        }
        Ok(Some((session, person)))
    }

    /// Ends one session.
    pub fn delete(conn: &mut DbConn, token_hash: &str) -> Result<(), StoreError> {
        diesel::delete(staff_sessions::table.find(token_hash)).execute(conn)?;
        Ok(())
    }

    /// Ends every session of `staff_id` except the one hashed `keep` (after
    /// a password change or a new TOTP secret).
    pub fn delete_others(
        conn: &mut DbConn,
        staff_id: &Id,
        keep: &str,
    ) -> Result<usize, StoreError> {
        Ok(diesel::delete(
            staff_sessions::table
                .filter(staff_sessions::staff_id.eq(staff_id.as_str()))
                .filter(staff_sessions::token_hash.ne(keep)),
        )
        .execute(conn)?)
    }

    /// Ends every session of a staff member.
    pub fn delete_for_staff(conn: &mut DbConn, staff_id: &Id) -> Result<usize, StoreError> {
        diesel::delete(staff_sessions::table.filter(staff_sessions::staff_id.eq(staff_id.as_str())))
            .execute(conn)
            .map_err(StoreError::from)
    }

    /// Deletes sessions that can no longer be resumed.
    pub fn purge_expired(
        conn: &mut DbConn,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let n = diesel::delete(
            staff_sessions::table.filter(
                staff_sessions::last_seen_at
                    .le(to_db(now - limits.idle))
                    .or(staff_sessions::created_at.le(to_db(now - limits.absolute)))
                    .or(staff_sessions::verified
                        .eq(false)
                        .and(staff_sessions::created_at.le(to_db(now - PENDING_STAFF_LOGIN)))),
            ),
        )
        .execute(conn)?;
        Ok(n)
    }
}
