//! `GET /dashboard/users/{id}/summary`: a one-page summary of a sharing
//! user for the journal, made to be printed. No code and no pseudonym: the
//! clinician writes it into the record of the patient they know, and the
//! paper must not carry the key to the user's account. Read through the
//! consent gate and logged like the user's page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::consent::SharingState;
use mestring_domain::id::Id;
use mestring_domain::policy::clinician::RECENT_DAYS;
use mestring_store::consent::{ConsentRow, SharedRead, read_shared_account};
use mestring_store::overview::{Answers, summary_rows};
use mestring_store::staff_views::StaffViewRow;
use mestring_web::{AppError, AppState, Ctx};

use super::clinical::{modules_text, summarise, trajectory_text};
use super::overview::program_title;
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};

/// One questionnaire in the summary.
pub struct MeasureLine {
    name: String,
    first: String,
    latest: String,
    change: String,
}

/// One answer in the table.
pub struct AnswerLine {
    date: String,
    name: String,
    total: i64,
    band: String,
}

/// What the printed page holds.
pub struct Summary {
    program: String,
    sharing_until: String,
    measures: Vec<MeasureLine>,
    item9: bool,
    modules: String,
    recent: usize,
    last_activity: String,
    answers: Vec<AnswerLine>,
}

#[derive(Template)]
#[template(path = "dashboard/summary.html")]
struct SummaryPage {
    ctx: Ctx,
    printed: String,
    recent_days: i64,
    /// `None` when the user does not share now.
    summary: Option<Summary>,
}

/// `GET /dashboard/users/{id}/summary`.
pub async fn summary(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let account = Id::parse(&path.into_inner()).map_err(|_| AppError::NotFound)?;
    let org = staff.org();
    let staff_id = staff.id();
    let now = state.clock.now();
    let since = now - chrono::Duration::days(RECENT_DAYS);
    let result = state
        .store
        .run(move |conn| {
            let read = read_shared_account(conn, &org, &account, now, |conn, row| {
                let mut rows =
                    summary_rows(conn, &[row.id.as_str().to_owned()], since, Answers::Every)?;
                Ok(rows.pop())
            })?;
            if matches!(read, SharedRead::NotFound) {
                return Ok(None);
            }
            // Normen: log every opening, shared or not.
            StaffViewRow::insert(conn, &org, &staff_id, &account, now)?;
            let sharing = ConsentRow::state(conn, &account, now)?;
            Ok(Some((read, sharing)))
        })
        .await?;
    let Some((read, sharing)) = result else {
        return Err(AppError::NotFound);
    };
    tracing::info!(staff = %staff.id(), "user summary opened");
    let summary = match (read, sharing) {
        (SharedRead::Shared(Some(rows)), SharingState::Sharing { lapses_at, .. }) => {
            let c = summarise(&state, ctx.lang, &rows);
            let measures = c
                .measures
                .iter()
                .map(|m| {
                    let answered: Vec<_> = rows
                        .responses
                        .iter()
                        .filter(|r| r.questionnaire_id == m.id)
                        .collect();
                    let at = |r: Option<&&mestring_store::overview::Measurement>| {
                        r.map_or_else(String::new, |r| {
                            format!("{} ({})", r.total, fmt_date(r.completed_at))
                        })
                    };
                    MeasureLine {
                        name: m.name.clone(),
                        first: at(answered.first()),
                        latest: format!("{}, {}", at(answered.last()), m.band),
                        change: trajectory_text(&ctx, m.trajectory),
                    }
                })
                .collect();
            let answers = rows
                .responses
                .iter()
                .map(|r| {
                    let q = state.content.questionnaire(&r.questionnaire_id);
                    AnswerLine {
                        date: fmt_date(r.completed_at),
                        name: q
                            .map_or_else(|| r.questionnaire_id.clone(), |q| q.short_name.clone()),
                        total: r.total,
                        band: q
                            .and_then(|q| q.bands.iter().find(|b| b.id.as_str() == r.band_id))
                            .map_or_else(
                                || r.band_id.clone(),
                                |b| b.label.get(ctx.lang).to_owned(),
                            ),
                    }
                })
                .collect();
            Some(Summary {
                program: program_title(&state, &ctx, rows.account.program_slug.as_deref()),
                sharing_until: fmt_date(lapses_at),
                measures,
                item9: c.item9,
                modules: modules_text(&ctx, c.modules),
                recent: c.recent_registrations,
                last_activity: c
                    .last_activity
                    .map_or_else(|| "–".to_owned(), fmt_date_time),
                answers,
            })
        }
        _ => None,
    };
    let page = SummaryPage {
        printed: fmt_date_time(now),
        recent_days: RECENT_DAYS,
        summary,
        ctx,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}
