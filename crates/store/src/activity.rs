//! Coarse activity: one row per account per Europe/Oslo date, with the
//! number of logins that day and the time spent in five-minute steps.
//!
//! Time spent is estimated from page views: a view more than five minutes
//! after the last counted one adds the gap (at most 30 minutes, the session
//! idle limit; a longer gap starts a new stretch and adds nothing), rounded
//! down to whole five minutes. That caps writes at one per five minutes per
//! account and keeps the number coarse on purpose.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;

use crate::schema::activity_days;
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

use mestring_domain::policy::activity::{MAX_GAP, MINUTE_STEP};

/// One day of activity.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activity_days)]
pub struct ActivityDayRow {
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// The Oslo date, `YYYY-MM-DD`.
    pub day: String,
    /// Logins that day.
    pub logins: i64,
    /// Coarse minutes spent that day (multiple of five).
    pub minutes: i64,
    /// When the last counted page view was.
    #[diesel(deserialize_as = StoredTime)]
    pub last_seen_at: DateTime<Utc>,
}

impl ActivityDayRow {
    fn find(conn: &mut DbConn, account: &Id, day: &str) -> Result<Option<Self>, StoreError> {
        activity_days::table
            .find((account.as_str(), day))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    fn create(
        conn: &mut DbConn,
        account: &Id,
        day: &str,
        logins: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = diesel::insert_into(activity_days::table)
            .values((
                activity_days::account_id.eq(account.as_str()),
                activity_days::day.eq(day),
                activity_days::logins.eq(logins),
                activity_days::minutes.eq(0i64),
                activity_days::last_seen_at.eq(to_db(now)),
            ))
            .execute(conn)
            .map_err(StoreError::from);
        match r {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records a login on Oslo date `day`.
    pub fn record_login(
        conn: &mut DbConn,
        account: &Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let day = day.format("%Y-%m-%d").to_string();
        if Self::find(conn, account, &day)?.is_none() && Self::create(conn, account, &day, 1, now)?
        {
            return Ok(());
        }
        diesel::update(activity_days::table.find((account.as_str(), day.as_str())))
            .set((
                activity_days::logins.eq(activity_days::logins + 1i64),
                activity_days::last_seen_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Counts a page view on Oslo date `day` towards time spent (see the
    /// module docs). Writes at most once per five minutes.
    pub fn touch(
        conn: &mut DbConn,
        account: &Id,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let day = day.format("%Y-%m-%d").to_string();
        let Some(row) = Self::find(conn, account, &day)? else {
            Self::create(conn, account, &day, 0, now)?;
            return Ok(());
        };
        let gap = now - row.last_seen_at;
        if gap < Duration::minutes(MINUTE_STEP) {
            return Ok(());
        }
        let gap_min = gap.num_minutes();
        let add = if gap_min > MAX_GAP.num_minutes() {
            0
        } else {
            gap_min / MINUTE_STEP * MINUTE_STEP
        };
        diesel::update(activity_days::table.find((account.as_str(), day.as_str())))
            .set((
                activity_days::minutes.eq(activity_days::minutes + add),
                activity_days::last_seen_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Every activity day of the account, oldest first.
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        activity_days::table
            .filter(activity_days::account_id.eq(account.as_str()))
            .order(activity_days::day.asc())
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }
}
