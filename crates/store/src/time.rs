//! Stored times: UTC `TIMESTAMP` columns without zone on both backends,
//! read into `DateTime<Utc>` at the boundary.
//!
//! Row types hold `DateTime<Utc>` and name [`StoredTime`] as their
//! `deserialize_as` type; query filters bind through [`to_db`]. The zone is
//! not stored because every stored time is UTC by this module's contract:
//! nothing writes a local time.
//!
//! SQLite keeps a timestamp as text in the one form diesel writes,
//! `YYYY-MM-DD HH:MM:SS[.fraction]`. Diesel reads it by trying up to
//! eighteen chrono formats; on the overview of a large organisation that
//! was a tenth of the time (BENCHMARKS.md). [`parse_sqlite_text`] reads
//! the written form directly and hands anything else to diesel, so a
//! value written by hand in another accepted form still reads.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Nullable, Timestamp};

use crate::conn::{Db, MultiRawValue};

/// A stored UTC time, as it crosses the store boundary.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = Timestamp)]
pub struct StoredTime(NaiveDateTime);

impl From<DateTime<Utc>> for StoredTime {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t.naive_utc())
    }
}

impl From<StoredTime> for DateTime<Utc> {
    fn from(t: StoredTime) -> Self {
        t.0.and_utc()
    }
}

impl FromSql<Timestamp, Db> for StoredTime {
    fn from_sql(bytes: <Db as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match bytes {
            MultiRawValue::Sqlite(mut value) => {
                if value.value_type() == Some(diesel::sqlite::SqliteType::Text)
                    && let Some(t) = parse_sqlite_text(value.read_text().as_bytes())
                {
                    return Ok(Self(t));
                }
                <NaiveDateTime as FromSql<Timestamp, diesel::sqlite::Sqlite>>::from_sql(value)
                    .map(Self)
            }
            MultiRawValue::Pg(value) => {
                <NaiveDateTime as FromSql<Timestamp, diesel::pg::Pg>>::from_sql(value).map(Self)
            }
        }
    }
}

impl ToSql<Timestamp, Db> for StoredTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Db>) -> serialize::Result {
        out.set_value((Timestamp, &self.0));
        Ok(IsNull::No)
    }
}

/// A nullable stored UTC time, read into `Option<DateTime<Utc>>` (the
/// `deserialize_as` type of optional time fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow)]
pub struct StoredOptionalTime(Option<StoredTime>);

impl From<StoredOptionalTime> for Option<DateTime<Utc>> {
    fn from(t: StoredOptionalTime) -> Self {
        t.0.map(Into::into)
    }
}

impl FromSql<Nullable<Timestamp>, Db> for StoredOptionalTime {
    fn from_sql(bytes: <Db as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        StoredTime::from_sql(bytes).map(|t| Self(Some(t)))
    }

    fn from_nullable_sql(
        bytes: Option<<Db as Backend>::RawValue<'_>>,
    ) -> deserialize::Result<Self> {
        bytes.map_or(Ok(Self(None)), Self::from_sql)
    }
}

/// A UTC time as a `TIMESTAMP` bind value.
pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Reads `YYYY-MM-DD HH:MM:SS` with an optional `.` and one to nine
/// fraction digits: exactly what diesel writes for a `TIMESTAMP` on
/// SQLite. `None` for anything else, including out-of-range fields.
pub(crate) fn parse_sqlite_text(s: &[u8]) -> Option<NaiveDateTime> {
    fn digits(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    }
    if s.len() < 19
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b' '
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let nanos = match &s[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            // 10^(9 - len) scales the digits to nanoseconds.
            digits(fraction)? * 10u32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        _ => return None,
    };
    let year = i32::try_from(digits(&s[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, digits(&s[5..7])?, digits(&s[8..10])?)?;
    let time = NaiveTime::from_hms_nano_opt(
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
        nanos,
    )?;
    Some(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What diesel's SQLite `ToSql` for `NaiveDateTime` writes.
    fn written(t: NaiveDateTime) -> String {
        t.format("%F %T%.f").to_string()
    }

    proptest! {
        #[test]
        fn reads_every_time_diesel_writes(
            secs in 0i64..4_102_444_800, // 1970 to 2100
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000, (0u32..1_000_000).prop_map(|u| u * 1000)],
        ) {
            let Some(t) = DateTime::from_timestamp(secs, nanos).map(|t| t.naive_utc()) else {
                return Err(TestCaseError::reject("out of range"));
            };
            prop_assert_eq!(parse_sqlite_text(written(t).as_bytes()), Some(t));
        }

        #[test]
        fn agrees_with_chrono_or_declines(s in "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,10})?") {
            let ours = parse_sqlite_text(s.as_bytes());
            let chrono = NaiveDateTime::parse_from_str(&s, "%F %T%.f").ok();
            // Where we read a value, chrono reads the same one; where chrono
            // reads one we decline, the fallback to diesel still reads it.
            if let Some(t) = ours {
                prop_assert_eq!(Some(t), chrono);
            }
        }
    }

    #[test]
    fn declines_what_it_does_not_know_so_diesel_reads_it() {
        for s in [
            "2026-12-04T10:00:00",
            "2026-12-04 10:00",
            "2026-12-04 10:00:00Z",
            "2026-12-04 10:00:00+01:00",
            "2026-12-04 10:00:00.",
            "2026-12-04 10:00:00.1234567890",
            "2026-13-04 10:00:00",
            "2026-02-30 10:00:00",
            "2026-12-04 24:00:00",
            "2459000.5",
            "",
        ] {
            assert_eq!(parse_sqlite_text(s.as_bytes()), None, "{s}");
        }
        let t = parse_sqlite_text(b"2026-12-04 10:11:12.5").expect("fraction of one digit");
        assert_eq!(written(t), "2026-12-04 10:11:12.500");
    }

    #[test]
    fn a_row_written_in_another_form_still_reads() {
        use diesel::prelude::*;
        let mut conn = crate::conn::memory_db();
        diesel::sql_query(
            "INSERT INTO channels (slug, name, created_at) VALUES ('x', 'X', '2026-12-04T10:00:00Z')",
        )
        .execute(&mut conn)
        .expect("insert");
        let at: StoredTime = crate::schema::channels::table
            .filter(crate::schema::channels::slug.eq("x"))
            .select(crate::schema::channels::created_at)
            .first::<StoredTime>(&mut conn)
            .expect("read");
        let expected: DateTime<Utc> = "2026-12-04T10:00:00Z".parse().expect("literal");
        assert_eq!(DateTime::<Utc>::from(at), expected);
    }
}
