//! Fixed periods for group data: calendar months in Europe/Oslo. Only
//! whole, fixed periods are ever counted, so two requests can never differ
//! by a sliding window's edge (one person).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Oslo;

/// One calendar month in Oslo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub label: String,
    /// The first day.
    pub first_day: NaiveDate,
    /// Midnight of the first day in Oslo, as UTC.
    pub start: DateTime<Utc>,
}

/// The `n` most recent Oslo calendar months, the current one included,
/// oldest first.
pub fn last_months(now: DateTime<Utc>, n: u32) -> Vec<Month> {
    let today = now.with_timezone(&Oslo).date_naive();
    let (mut year, mut month) = (today.year(), today.month());
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(month_of(year, month));
        if month == 1 {
            year -= 1;
            month = 12;
        } else {
            month -= 1;
        }
    }
    out.reverse();
    out
}

fn month_of(year: i32, month: u32) -> Month {
    let first_day = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    // Oslo changes clocks at 01:00/02:00 UTC on Sundays, never at
    // midnight, so local midnight always exists exactly once.
    let start = Oslo
        .from_local_datetime(&first_day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or_else(
            || first_day.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        );
    Month {
        label: first_day.format("%Y-%m").to_string(),
        first_day,
        start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_months_end_with_the_oslo_month_of_now() {
        // 23:30 UTC on 31 December is already January in Oslo.
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
        let m = last_months(now, 12);
        assert_eq!(m.len(), 12);
        assert_eq!(m[11].label, "2027-01");
        assert_eq!(m[0].label, "2026-02");
        // Winter: Oslo is UTC+1; summer: UTC+2.
        assert_eq!(
            m[11].start,
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap()
        );
        assert_eq!(m[5].label, "2026-07");
        assert_eq!(
            m[5].start,
            Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0).unwrap()
        );
        assert!(m.windows(2).all(|w| w[0].start < w[1].start));
    }
}
