//! Organisations that issue codes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::channel::{ChannelSlug, DIRECT};
use mestring_domain::id::Id;

use crate::schema::organisations;
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// An organisation row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct OrganisationRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// Display name, shown to staff and in consent questions.
    pub name: String,
    /// When the organisation was created.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    channel: String,
}

impl OrganisationRow {
    /// The channel the organisation belongs to.
    pub fn channel(&self) -> ChannelSlug {
        ChannelSlug::from_trusted(self.channel.clone())
    }

    /// Creates an organisation in the `direct` channel and returns its id.
    pub fn insert(conn: &mut DbConn, name: &str, now: DateTime<Utc>) -> Result<Id, StoreError> {
        Self::insert_in(
            conn,
            name,
            &ChannelSlug::from_trusted(DIRECT.to_owned()),
            now,
        )
    }

    /// Creates an organisation in a channel (which must exist) and returns
    /// its id.
    pub fn insert_in(
        conn: &mut DbConn,
        name: &str,
        channel: &ChannelSlug,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(organisations::table)
            .values((
                organisations::id.eq(id.as_str()),
                organisations::name.eq(name),
                organisations::created_at.eq(to_db(now)),
                organisations::channel.eq(channel.as_str()),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// Finds an organisation by id.
    pub fn find(conn: &mut DbConn, id: &Id) -> Result<Self, StoreError> {
        organisations::table
            .find(id.as_str())
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Every organisation, oldest first.
    pub fn list_all(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        organisations::table
            .order((organisations::created_at.asc(), organisations::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// The organisations of a channel, oldest first.
    pub fn list_in_channel(
        conn: &mut DbConn,
        channel: &ChannelSlug,
    ) -> Result<Vec<Self>, StoreError> {
        organisations::table
            .filter(organisations::channel.eq(channel.as_str()))
            .order((organisations::created_at.asc(), organisations::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Number of organisations (the demo seeds only an empty database).
    pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
        organisations::table
            .count()
            .get_result(conn)
            .map_err(StoreError::from)
    }
}

impl OrganisationRow {
    /// Finds an organisation by exact name (the demo uses this).
    pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Self>, StoreError> {
        organisations::table
            .filter(organisations::name.eq(name))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }
}
