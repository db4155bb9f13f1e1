//! Dates and times as people in Norway read them.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Oslo;

/// `25.11.2026` in Europe/Oslo.
pub fn date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Oslo).format("%d.%m.%Y").to_string()
}

/// `25.11.` in Europe/Oslo, for chart axes.
pub fn short_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Oslo).format("%d.%m.").to_string()
}

/// The calendar date in Europe/Oslo at `t`: the unit of login days and of
/// the measurement schedule.
pub fn oslo_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Oslo).date_naive()
}

/// `25.11.2026 14:05` in Europe/Oslo.
pub fn date_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Oslo).format("%d.%m.%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_local_dates() {
        let t = DateTime::parse_from_rfc3339("2026-06-30T22:30:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(date(t), "01.07.2026");
        assert_eq!(date_time(t), "01.07.2026 00:30");
    }
}
