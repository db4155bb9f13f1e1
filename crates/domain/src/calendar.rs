//! Reminders as an iCalendar file (RFC 5545) the user downloads and adds to
//! their own calendar: nothing about the person is stored to make it, and
//! nothing is sent anywhere later.
//!
//! Events are at a fixed local time in Europe/Oslo (with a `VTIMEZONE`), so
//! a daylight-saving change never moves a reminder's date or clock time.
//! The wording is the caller's (from the message catalogue) and neutral:
//! a lock screen shows it to anyone nearby.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sha2::{Digest, Sha256};

/// One reminder: a date (Europe/Oslo) and whether it repeats weekly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The calendar date in Europe/Oslo.
    pub date: NaiveDate,
    /// Repeats every week from `date` (the module reminder).
    pub weekly: bool,
    /// Distinguishes reminders on the same date in the event's UID (e.g.
    /// the questionnaire id). Only ever part of a hash.
    pub key: String,
}

/// The words shown in the calendar.
#[derive(Debug, Clone)]
pub struct Wording<'a> {
    /// The event title, e.g. "Tid for deg selv".
    pub summary: &'a str,
    /// The event text and the alarm's text.
    pub description: &'a str,
}

/// Clock time of every reminder, local to Europe/Oslo.
pub const REMINDER_TIME: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// Length of each event in minutes.
pub const REMINDER_MINUTES: u32 = 15;

/// Europe/Oslo's rules since 1996 (the EU rule: last Sunday of March at
/// 02:00 to last Sunday of October at 03:00).
const VTIMEZONE_OSLO: &str = "BEGIN:VTIMEZONE\r\n\
TZID:Europe/Oslo\r\n\
BEGIN:DAYLIGHT\r\n\
TZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\n\
TZNAME:CEST\r\n\
DTSTART:19700329T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n\
END:DAYLIGHT\r\n\
BEGIN:STANDARD\r\n\
TZOFFSETFROM:+0200\r\n\
TZOFFSETTO:+0100\r\n\
TZNAME:CET\r\n\
DTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
END:STANDARD\r\n\
END:VTIMEZONE\r\n";

/// Escapes TEXT values (RFC 5545 §3.3.11).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded at 75 octets (RFC 5545 §3.1) without
/// splitting a UTF-8 character, ending in CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// A UID that stays the same when the same reminder is downloaded again
/// (so calendars update instead of duplicating), and that reveals nothing:
/// a hash of `owner` (e.g. the account id), the date and the key.
fn uid(owner: &str, r: &Reminder) -> String {
    let digest = Sha256::digest(format!("{owner}\0{}\0{}", r.date, r.key).as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@reminder")
}

/// The calendar file for `reminders`, made at `now`.
pub fn reminders_ics(
    reminders: &[Reminder],
    wording: &Wording<'_>,
    owner: &str,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    // Neutral too: a calendar app may show where an entry came from.
    line(&mut out, "PRODID:-//Reminders//NONSGML v1//NB");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    out.push_str(VTIMEZONE_OSLO);
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let summary = escape(wording.summary);
    let description = escape(wording.description);
    for r in reminders {
        let start = r.date.and_time(REMINDER_TIME).format("%Y%m%dT%H%M%S");
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", uid(owner, r)));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("DTSTART;TZID=Europe/Oslo:{start}"));
        line(&mut out, &format!("DURATION:PT{REMINDER_MINUTES}M"));
        if r.weekly {
            line(&mut out, "RRULE:FREQ=WEEKLY");
        }
        line(&mut out, &format!("SUMMARY:{summary}"));
        line(&mut out, &format!("DESCRIPTION:{description}"));
        line(&mut out, "CLASS:PRIVATE");
        line(&mut out, "TRANSP:TRANSPARENT");
        line(&mut out, "BEGIN:VALARM");
        line(&mut out, "ACTION:DISPLAY");
        line(&mut out, "TRIGGER:PT0M");
        line(&mut out, &format!("DESCRIPTION:{summary}"));
        line(&mut out, "END:VALARM");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn lines_are_crlf_folded_at_75_octets_and_text_is_escaped() {
        let long = "Æ".repeat(60);
        let text = reminders_ics(
            &[Reminder {
                date: d(2027, 3, 28),
                weekly: false,
                key: "phq9".into(),
            }],
            &Wording {
                summary: "Tid for deg selv; nå, ja",
                description: &long,
            },
            "acc",
            Utc::now(),
        );
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
            assert!(!l.contains('\n'));
        }
        assert!(text.contains("SUMMARY:Tid for deg selv\\; nå\\, ja\r\n"));
        // 28 March 2027 is the day summer time starts: still 18:00 local.
        assert!(text.contains("DTSTART;TZID=Europe/Oslo:20270328T180000\r\n"));
        assert!(!text.contains("phq9"), "the key is only hashed");
    }

    #[test]
    fn uids_are_stable_and_distinct() {
        let r = |key: &str| Reminder {
            date: d(2027, 1, 5),
            weekly: false,
            key: key.into(),
        };
        assert_eq!(uid("a", &r("phq9")), uid("a", &r("phq9")));
        assert_ne!(uid("a", &r("phq9")), uid("a", &r("gad7")));
        assert_ne!(uid("a", &r("phq9")), uid("b", &r("phq9")));
    }
}
