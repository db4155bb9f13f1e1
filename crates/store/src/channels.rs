//! Channels (e.g. `direct`, `helsenorge`): every organisation belongs to
//! one; tool managers work for one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::channel::ChannelSlug;

use crate::schema::{channels, organisations};
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A channel row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    slug: String,
    /// Display name, shown to tool managers.
    pub name: String,
    /// When the channel was created.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
}

impl ChannelRow {
    /// The slug.
    pub fn slug(&self) -> ChannelSlug {
        ChannelSlug::from_trusted(self.slug.clone())
    }

    /// Creates a channel (the CLI checks first that the slug is free).
    pub fn insert(
        conn: &mut DbConn,
        slug: &ChannelSlug,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(channels::table)
            .values((
                channels::slug.eq(slug.as_str()),
                channels::name.eq(name),
                channels::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Finds a channel by slug.
    pub fn find(conn: &mut DbConn, slug: &ChannelSlug) -> Result<Option<Self>, StoreError> {
        channels::table
            .find(slug.as_str())
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// Every channel, by slug, with its number of organisations.
    pub fn list_all(conn: &mut DbConn) -> Result<Vec<(Self, i64)>, StoreError> {
        let rows: Vec<Self> = channels::table
            .order(channels::slug.asc())
            .select(Self::as_select())
            .load(conn)?;
        let counts: Vec<(String, i64)> = organisations::table
            .group_by(organisations::channel)
            .select((organisations::channel, diesel::dsl::count_star()))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|c| {
                let n = counts
                    .iter()
                    .find(|(slug, _)| *slug == c.slug)
                    .map_or(0, |(_, n)| *n);
                (c, n)
            })
            .collect())
    }
}
