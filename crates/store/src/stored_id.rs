//! Ids read from the database into the domain's [`Id`].
//!
//! Row types hold `Id` for every column the application fills with
//! [`Id::generate`] (`id`, `account_id`, `org_id`, `staff_id`, …) and name
//! [`StoredId`] as their `deserialize_as` type. What is read back is
//! wrapped with [`Id::from_trusted`], not parsed: only this application
//! writes these columns, and the overview reads thousands per request.
//! Query filters bind `id.as_str()`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::sql_types::{Nullable, Text};
use mestring_domain::id::Id;

use crate::conn::Db;

/// A stored id, as it crosses the store boundary.
#[derive(Debug, Clone, PartialEq, Eq, diesel::FromSqlRow)]
pub struct StoredId(Id);

impl From<StoredId> for Id {
    fn from(id: StoredId) -> Self {
        id.0
    }
}

impl FromSql<Text, Db> for StoredId {
    fn from_sql(bytes: <Db as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(Id::from_trusted(bytes.from_sql::<String, Text>()?)))
    }
}

/// A nullable stored id (`deserialize_as` of `Option<Id>` fields).
#[derive(Debug, Clone, PartialEq, Eq, diesel::FromSqlRow)]
pub struct StoredOptionalId(Option<Id>);

impl From<StoredOptionalId> for Option<Id> {
    fn from(id: StoredOptionalId) -> Self {
        id.0
    }
}

impl FromSql<Nullable<Text>, Db> for StoredOptionalId {
    fn from_sql(bytes: <Db as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        StoredId::from_sql(bytes).map(|id| Self(Some(id.0)))
    }

    fn from_nullable_sql(
        bytes: Option<<Db as Backend>::RawValue<'_>>,
    ) -> deserialize::Result<Self> {
        bytes.map_or(Ok(Self(None)), Self::from_sql)
    }
}
