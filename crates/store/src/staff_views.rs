//! The access log: every opening of a user's page by staff.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;

use crate::schema::organisations;
use crate::schema::{staff, staff_views};
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// One logged view.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff_views)]
pub struct StaffViewRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The viewer's organisation.
    #[diesel(deserialize_as = StoredId)]
    pub org_id: Id,
    /// Who looked.
    #[diesel(deserialize_as = StoredId)]
    pub staff_id: Id,
    /// Whose page.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// When the page was opened.
    #[diesel(deserialize_as = StoredTime)]
    pub at: DateTime<Utc>,
}

/// A row of an organisation's access log, for superusers.
#[derive(Debug, Clone)]
pub struct OrgViewEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The staff member's name.
    pub staff_name: String,
    /// Whose page (the account id; the caller shows the pseudonym).
    pub account_id: Id,
    /// The account's sealed pseudonym, if any.
    pub pseudonym: Option<Vec<u8>>,
}

/// One of a staff member's own access-log entries.
#[derive(Debug, Clone)]
pub struct OwnViewEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose page.
    pub account_id: Id,
    /// The account's sealed pseudonym, if any.
    pub pseudonym: Option<Vec<u8>>,
}

impl StaffViewRow {
    /// Logs one view.
    pub fn insert(
        conn: &mut DbConn,
        org: &Id,
        staff_id: &Id,
        account: &Id,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(staff_views::table)
            .values((
                staff_views::id.eq(Id::generate().as_str()),
                staff_views::org_id.eq(org.as_str()),
                staff_views::staff_id.eq(staff_id.as_str()),
                staff_views::account_id.eq(account.as_str()),
                staff_views::at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// An organisation's log, newest first, one page.
    pub fn list_for_org(
        conn: &mut DbConn,
        org: &Id,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OrgViewEntry>, StoreError> {
        use crate::schema::accounts;
        let rows: Vec<(StoredTime, String, String, Option<Vec<u8>>)> = staff_views::table
            .inner_join(staff::table)
            .inner_join(accounts::table)
            .filter(staff_views::org_id.eq(org.as_str()))
            .order((staff_views::at.desc(), staff_views::id.asc()))
            .limit(limit)
            .offset(offset)
            .select((
                staff_views::at,
                staff::name,
                staff_views::account_id,
                accounts::pseudonym,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(at, staff_name, account, pseudonym)| OrgViewEntry {
                at: at.into(),
                staff_name,
                account_id: Id::from_trusted(account),
                pseudonym,
            })
            .collect())
    }

    /// A staff member's own entries in the access log, newest first: when
    /// and whose page (the account id and its sealed pseudonym).
    pub fn list_for_staff(
        conn: &mut DbConn,
        staff_id: &Id,
        limit: i64,
    ) -> Result<Vec<OwnViewEntry>, StoreError> {
        use crate::schema::accounts;
        let rows: Vec<(StoredTime, String, Option<Vec<u8>>)> = staff_views::table
            .inner_join(accounts::table)
            .filter(staff_views::staff_id.eq(staff_id.as_str()))
            .order((staff_views::at.desc(), staff_views::id.asc()))
            .limit(limit)
            .select((
                staff_views::at,
                staff_views::account_id,
                accounts::pseudonym,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(at, account, pseudonym)| OwnViewEntry {
                at: at.into(),
                account_id: Id::from_trusted(account),
                pseudonym,
            })
            .collect())
    }

    /// For the user's settings: when their data was viewed and by which
    /// organisation (never which person), newest first.
    pub fn list_for_account(
        conn: &mut DbConn,
        account: &Id,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, StoredTime)> = staff_views::table
            .inner_join(organisations::table)
            .filter(staff_views::account_id.eq(account.as_str()))
            .order(staff_views::at.desc())
            .select((organisations::name, staff_views::at))
            .load(conn)?;
        Ok(rows.into_iter().map(|(n, at)| (n, at.into())).collect())
    }
}
