//! When a code stops working, computed from the code lifetime in
//! [`crate::policy::code`].

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Oslo;

use crate::policy::code::LIFETIME_YEARS;

/// The instant a code stops working: [`LIFETIME_YEARS`] calendar years
/// (in Europe/Oslo) after it was created or last used to log in, whichever
/// is later. A 29 February start ends on 28 February.
pub fn code_expires_at(created: DateTime<Utc>, last_login: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let start = last_login.map_or(created, |l| l.max(created));
    add_calendar_years_oslo(start, LIFETIME_YEARS)
}

/// Whether a code created at `created` and last used at `last_login` is
/// still valid at `now`.
pub fn code_is_active(
    created: DateTime<Utc>,
    last_login: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    now < code_expires_at(created, last_login)
}

/// `t` plus `years` calendar years on Oslo's wall clock.
fn add_calendar_years_oslo(t: DateTime<Utc>, years: i32) -> DateTime<Utc> {
    let local = t.with_timezone(&Oslo).naive_local();
    let target_year = local.year() + years;
    let date = NaiveDate::from_ymd_opt(target_year, local.month(), local.day())
        .or_else(|| NaiveDate::from_ymd_opt(target_year, local.month(), 28))
        .unwrap_or(local.date());
    let naive = date.and_time(local.time());
    // A wall-clock time that falls in a DST gap moves forward an hour; an
    // ambiguous one takes the earlier instant. Either way the deadline stays
    // on the same calendar day.
    Oslo.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            Oslo.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or(t + Duration::days(365 * i64::from(years)), |d| {
            d.with_timezone(&Utc)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn five_years_after_creation_without_login() {
        let created = utc("2026-01-10T09:00:00Z");
        assert_eq!(code_expires_at(created, None), utc("2031-01-10T09:00:00Z"));
        assert!(code_is_active(created, None, utc("2031-01-10T08:59:59Z")));
        assert!(!code_is_active(created, None, utc("2031-01-10T09:00:00Z")));
    }

    #[test]
    fn last_login_extends_the_life() {
        let created = utc("2026-01-10T09:00:00Z");
        let login = utc("2028-06-01T12:00:00Z");
        assert_eq!(
            code_expires_at(created, Some(login)),
            utc("2033-06-01T12:00:00Z")
        );
    }

    #[test]
    fn leap_day_ends_on_the_28th() {
        let created = utc("2028-02-29T10:00:00Z");
        assert_eq!(code_expires_at(created, None), utc("2033-02-28T10:00:00Z"));
    }
}
