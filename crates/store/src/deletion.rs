//! Self-delete: every row about an account goes, in one transaction; the
//! issuing organisation keeps only a deletion record.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;

use crate::accounts::AccountRow;
use crate::schema::accounts;
use crate::schema::deletion_records;
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// What an organisation keeps after a user deleted their data.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deletion_records)]
pub struct DeletionRecordRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The issuing organisation.
    #[diesel(deserialize_as = StoredId)]
    pub org_id: Id,
    /// The organisation's sealed pseudonym (the issued code).
    pub pseudonym: Option<Vec<u8>>,
    /// When the user deleted their data.
    #[diesel(deserialize_as = StoredTime)]
    pub deleted_at: DateTime<Utc>,
}

impl DeletionRecordRow {
    /// How many deletion records an organisation has.
    pub fn count_for_org(conn: &mut DbConn, org: &Id) -> Result<i64, StoreError> {
        deletion_records::table
            .filter(deletion_records::org_id.eq(org.as_str()))
            .count()
            .get_result(conn)
            .map_err(StoreError::from)
    }

    /// One page of an organisation's deletion records, newest first.
    pub fn page_for_org(
        conn: &mut DbConn,
        org: &Id,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Self>, StoreError> {
        deletion_records::table
            .filter(deletion_records::org_id.eq(org.as_str()))
            .order((
                deletion_records::deleted_at.desc(),
                deletion_records::id.asc(),
            ))
            .limit(limit)
            .offset(offset)
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// An organisation's deletion records, newest first.
    pub fn list_for_org(conn: &mut DbConn, org: &Id) -> Result<Vec<Self>, StoreError> {
        deletion_records::table
            .filter(deletion_records::org_id.eq(org.as_str()))
            .order(deletion_records::deleted_at.desc())
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }
}

/// Deletes an account and, through `ON DELETE CASCADE`, every row that
/// refers to it (sessions, consent, answers, registrations, progress,
/// feedback, staff views). Leaves a deletion record for the issuing
/// organisation. Runs in one transaction.
pub fn delete_account(
    conn: &mut DbConn,
    account: &Id,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::conn::transaction_on(conn, |conn| {
        let row = AccountRow::find(conn, account)?;
        if let Some(org) = &row.org_id {
            diesel::insert_into(deletion_records::table)
                .values((
                    deletion_records::id.eq(Id::generate().as_str()),
                    deletion_records::org_id.eq(org.as_str()),
                    deletion_records::pseudonym.eq(row.pseudonym.as_deref()),
                    deletion_records::deleted_at.eq(to_db(now)),
                ))
                .execute(conn)?;
        }
        let n = diesel::delete(accounts::table.find(account.as_str())).execute(conn)?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    })
}
