//! The overview at `/app`: the program, where to continue, what is due and
//! the latest results; or, without a program, the choice of one.

use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::content::StepState;
use mestring_store::activity::ActivityDayRow;
use mestring_store::progress::{ProgramProgress, ProgressRow};
use mestring_store::responses::ResponseRow;
use mestring_web::session::PendingUserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use super::questionnaire::SUICIDAL_IDEATION;
use super::{format_date, html, oslo_date, step_href, user_program};

/// Query flags for the overview.
#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    choose_error: bool,
}

pub(crate) struct ContinueView {
    pub href: String,
    pub step_title: String,
    pub module_title: String,
    /// Whether anything was done before ("continue" rather than "start").
    pub resumed: bool,
}

pub(crate) struct LinkView {
    pub href: String,
    pub title: String,
}

pub(crate) struct LatestView {
    pub href: String,
    pub title: String,
    pub date: String,
    pub total: u32,
    pub max_total: u32,
    pub band_label: String,
    pub flagged: bool,
}

pub(crate) struct ProgramView {
    pub title: String,
    pub summary: String,
    pub progress_text: String,
    pub next: Option<ContinueView>,
    pub due: Vec<LinkView>,
}

pub(crate) struct ChoiceView {
    pub slug: String,
    pub input_id: String,
    pub title: String,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "app_home.html")]
struct HomePage {
    ctx: Ctx,
    program: Option<ProgramView>,
    choices: Vec<ChoiceView>,
    choose_error: bool,
    latest: Vec<LatestView>,
    /// The code still is the one the organisation handed out: offer to
    /// replace it with one only the user knows.
    code_offer: bool,
    /// When the code was used to log in before this session (a date).
    previous_login: Option<String>,
}

/// Renders the overview for `GET /app`. The session is resumed in the
/// page's own trip to the database: this is the most visited page.
pub async fn show(
    state: web::Data<AppState>,
    ctx: Ctx,
    pending: PendingUserSession,
    query: web::Query<HomeQuery>,
) -> Result<HttpResponse, AppError> {
    let lang = ctx.lang;
    let now = state.clock.now();
    let today = oslo_date(now);
    // The program, and so which progress to read, is known only once the
    // session is resumed inside the trip.
    let in_trip = state.clone();
    let found = state
        .store
        .run(move |conn| {
            let Some((user, code_offer)) = pending.resume_noting_issued_code(conn)? else {
                return Ok(None);
            };
            let account = user.account_id();
            // The activity touch rides along with the page's reads (the
            // home page is the most visited). As in `touch_activity`, a
            // failed touch does not fail the page.
            if let Err(e) = ActivityDayRow::touch(conn, &account, today, now) {
                tracing::warn!(error = %e, "could not record activity");
            }
            let responses = ResponseRow::list_for_account(conn, &account)?;
            let progress = match user_program(&in_trip, &user) {
                Some(p) => ProgressRow::in_program(conn, &account, p.slug.as_str())?,
                None => ProgramProgress::default(),
            };
            Ok(Some((user, responses, progress, code_offer)))
        })
        .await?;
    let (user, responses, progress, code_offer) = found.ok_or(AppError::LoginRequired)?;
    let previous_login = user
        .account
        .previous_login_at
        .map(mestring_web::fmt::date_time);

    let program = user_program(&state, &user).map(|p| {
        let statuses = p.progress(&progress.completed);
        let done = statuses
            .iter()
            .filter(|s| s.state == StepState::Completed)
            .count();
        let started_on = progress.started_at.map(oslo_date).unwrap_or(today);
        let due = p
            .schedule
            .iter()
            .filter(|entry| {
                let last = responses
                    .iter()
                    .rev()
                    .find(|r| r.questionnaire_id == entry.questionnaire.as_str())
                    .map(|r| oslo_date(r.completed_at));
                entry.is_due(started_on, last, today)
            })
            .filter_map(|entry| {
                let q = state.content.questionnaire(entry.questionnaire.as_str())?;
                Some(LinkView {
                    href: format!("/app/questionnaires/{}", q.id),
                    title: q.title.get(lang).to_owned(),
                })
            })
            .collect();
        ProgramView {
            title: p.title.get(lang).to_owned(),
            summary: p.summary.get(lang).to_owned(),
            progress_text: ctx.tr.fill(
                "program.steps_done",
                &[
                    ("done", &done.to_string()),
                    ("total", &statuses.len().to_string()),
                ],
            ),
            next: p.next_step(&progress.completed).map(|s| ContinueView {
                href: step_href(&s.step.id),
                step_title: s.step.title.get(lang).to_owned(),
                module_title: s.module.title.get(lang).to_owned(),
                resumed: done > 0,
            }),
            due,
        }
    });

    // The newest result of each questionnaire, in catalog order.
    let latest = state
        .content
        .questionnaires()
        .filter_map(|q| {
            let r = responses
                .iter()
                .rev()
                .find(|r| r.questionnaire_id == q.id.as_str())?;
            Some(LatestView {
                href: format!("/app/results/{}", r.id),
                title: q.title.get(lang).to_owned(),
                date: format_date(r.completed_at),
                total: r.total_u32(),
                max_total: q.max_total(),
                band_label: q
                    .band(&r.band_id)
                    .map(|b| b.label.get(lang).to_owned())
                    .unwrap_or_default(),
                flagged: r.has_flag(SUICIDAL_IDEATION),
            })
        })
        .collect();

    let choices = if program.is_none() {
        state
            .content
            .programs()
            .map(|p| ChoiceView {
                slug: p.slug.to_string(),
                input_id: format!("program-{}", p.slug),
                title: p.title.get(lang).to_owned(),
                summary: p.summary.get(lang).to_owned(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = HomePage {
        program,
        choices,
        choose_error: query.choose_error,
        latest,
        code_offer,
        previous_login,
        ctx,
    };
    Ok(html(page.render()?))
}
