//! Calendar reminders without contact data: the downloaded `.ics` file is
//! valid RFC 5545 (read by an independent parser), its dates are the app's
//! due dates (across the change to summer time), and its wording is
//! neutral.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use icalendar::{CalendarComponent, CalendarDateTime, Component, DatePerhapsTime};

use crate::helpers::{TestApp, backends};

/// Every event's start (local Europe/Oslo time) and summary, soonest first.
fn events(ics: &str) -> Vec<(NaiveDateTime, String, bool)> {
    let cal: icalendar::Calendar = ics.parse().unwrap_or_else(|e| panic!("not RFC 5545: {e}"));
    let mut out: Vec<(NaiveDateTime, String, bool)> = cal
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .map(|e| {
            let start = match e.get_start() {
                Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone {
                    date_time,
                    tzid,
                })) => {
                    assert_eq!(tzid, "Europe/Oslo");
                    date_time
                }
                other => panic!("start is not a local Oslo time: {other:?}"),
            };
            let weekly = e.property_value("RRULE") == Some("FREQ=WEEKLY");
            (
                start,
                e.get_summary().unwrap_or_default().to_owned(),
                weekly,
            )
        })
        .collect();
    out.sort();
    out
}

fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, 0, 0))
        .expect("valid")
}

#[actix_web::test]
async fn the_calendar_file_holds_the_due_dates_across_summer_time_and_stores_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        // Saturday 20 March 2027; summer time starts Sunday 28 March.
        app.clock.set(
            Utc.with_ymd_and_hms(2027, 3, 20, 9, 0, 0)
                .single()
                .expect("valid"),
        );
        let code = app.issue_codes(1, Some("nedstemthet")).await.remove(0);
        let c = app.client();
        assert_eq!(c.login(&code.reveal()).await.status, 303);
        let fields: Vec<(String, String)> = (1..=9)
            .map(|i| (format!("phq9-{i}"), "1".to_owned()))
            .collect();
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            c.post("/app/questionnaires/phq9", &borrowed).await.status,
            303
        );

        let settings = c.get("/settings").await;
        assert!(settings.body.contains("href=\"/settings/reminders\""));
        let page = c.get("/settings/reminders").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("03.04.2027"), "PHQ-9 due 14 days on");

        let file = c.get("/settings/reminders.ics").await;
        assert_eq!(file.status, 200);
        assert_eq!(
            file.header("content-type"),
            Some("text/calendar; charset=utf-8")
        );
        assert!(
            file.body
                .contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Oslo\r\n")
        );
        let got = events(&file.body);
        // GAD-7 never answered: due today, then every 14 days; PHQ-9
        // answered today: due 3 April (after the switch to summer time,
        // still at 18:00 local), then every 14 days. Six of each.
        assert_eq!(got.len(), 12, "{got:?}");
        let dates: Vec<NaiveDateTime> = got.iter().map(|(d, _, _)| *d).collect();
        assert_eq!(
            &dates[..4],
            &[
                at(2027, 3, 20, 18),
                at(2027, 4, 3, 18),
                at(2027, 4, 3, 18),
                at(2027, 4, 17, 18)
            ]
        );
        assert!(
            got.iter()
                .all(|(_, s, weekly)| s == "Tid for deg selv" && !weekly)
        );
        // Neutral wording: nothing names the service or the measure.
        for word in ["Mestring", "PHQ", "GAD", "depres", "angst", "nedstemt"] {
            assert!(!file.body.contains(word), "the file says {word:?}");
        }
        assert!(!file.body.contains(&code.reveal()));

        let weekly = c.get("/settings/reminders.ics?weekly=1").await;
        let got = events(&weekly.body);
        assert_eq!(got.len(), 13);
        assert!(got.contains(&(at(2027, 3, 27, 18), "Tid for deg selv".into(), true)));

        // Logged out: no file.
        assert_eq!(
            app.client().get("/settings/reminders.ics").await.status,
            303
        );
    }
}
