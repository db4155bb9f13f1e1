//! Reminders without contact data: the user downloads a calendar file with
//! their next measurement dates (and, if they want, a weekly reminder) and
//! adds it to their own calendar. Nothing is stored to make it and nothing
//! is ever sent; the wording is neutral, because a lock screen shows it.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Days;
use mestring_domain::calendar::{REMINDER_TIME, Reminder, Wording, reminders_ics};
use mestring_store::progress::ProgressRow;
use mestring_store::responses::ResponseRow;
use mestring_web::fmt::oslo_date;
use mestring_web::page::html;
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::program::user_program;

/// How many upcoming dates of each measurement the file lists.
pub const OCCURRENCES: usize = 6;

#[derive(Template)]
#[template(path = "settings/reminders.html")]
struct RemindersPage {
    ctx: Ctx,
    /// The dates the file would hold now, as text, soonest first.
    dates: Vec<String>,
    /// The neutral title the events carry.
    summary: String,
    /// "18:00".
    time: String,
}

/// `?weekly=1` adds a weekly reminder to continue the program.
#[derive(Debug, Deserialize)]
pub struct ReminderQuery {
    #[serde(default)]
    weekly: Option<String>,
}

/// The measurement reminders due from today, soonest first.
async fn measurement_reminders(
    state: &AppState,
    user: &UserSession,
) -> Result<Vec<Reminder>, AppError> {
    let Some(program) = user_program(state, user) else {
        return Ok(Vec::new());
    };
    let account = user.account_id();
    let slug = program.slug.to_string();
    let (responses, started) = state
        .store
        .run(move |conn| {
            Ok((
                ResponseRow::list_for_account(conn, &account)?,
                ProgressRow::in_program(conn, &account, &slug)?.started_at,
            ))
        })
        .await?;
    let today = oslo_date(state.clock.now());
    let started_on = started.map(oslo_date).unwrap_or(today);
    let mut out: Vec<Reminder> = program
        .schedule
        .iter()
        .flat_map(|entry| {
            let last = responses
                .iter()
                .filter(|r| r.questionnaire_id == entry.questionnaire.as_str())
                .map(|r| oslo_date(r.completed_at))
                .max();
            entry
                .upcoming(started_on, last, today, OCCURRENCES)
                .into_iter()
                .map(|d| Reminder {
                    date: d,
                    weekly: false,
                    key: entry.questionnaire.to_string(),
                })
        })
        .collect();
    out.sort_by(|a, b| (a.date, &a.key).cmp(&(b.date, &b.key)));
    Ok(out)
}

/// `GET /settings/reminders`: what the file holds, and the download.
pub async fn show_reminders(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let reminders = measurement_reminders(&state, &user).await?;
    let mut dates: Vec<String> = reminders
        .iter()
        .map(|r| r.date.format("%d.%m.%Y").to_string())
        .collect();
    dates.dedup();
    let page = RemindersPage {
        summary: ctx.t("reminders.event_summary").to_owned(),
        time: REMINDER_TIME.format("%H:%M").to_string(),
        dates,
        ctx,
    };
    Ok(html(page.render()?))
}

/// `GET /settings/reminders.ics`: the calendar file (RFC 5545).
pub async fn download_reminders(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    query: web::Query<ReminderQuery>,
) -> Result<HttpResponse, AppError> {
    let mut reminders = measurement_reminders(&state, &user).await?;
    if query.weekly.as_deref() == Some("1") {
        let today = oslo_date(state.clock.now());
        reminders.push(Reminder {
            date: today.checked_add_days(Days::new(7)).unwrap_or(today),
            weekly: true,
            key: "weekly".into(),
        });
    }
    let body = reminders_ics(
        &reminders,
        &Wording {
            summary: ctx.t("reminders.event_summary"),
            description: ctx.t("reminders.event_description"),
        },
        user.account_id().as_str(),
        state.clock.now(),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"reminders.ics\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
