//! The program overview, step pages and "mark as done".

use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::content::{StepKind, StepState};
use mestring_store::progress::{self, ProgressRow};
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use super::{completed_steps, html, see_other, step_href, touch_activity, user_program};

/// A step in the program overview.
pub(crate) struct StepView {
    pub title: String,
    /// `None` while locked.
    pub href: Option<String>,
    /// "Fullført", "Klar", "Låst": the state in words, never only colour.
    pub state_label: String,
    pub state_class: &'static str,
}

pub(crate) struct ModuleView {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub steps: Vec<StepView>,
}

#[derive(Template)]
#[template(path = "program/program.html")]
struct ProgramPage {
    ctx: Ctx,
    title: String,
    intro_html: String,
    modules: Vec<ModuleView>,
    done: usize,
    total: usize,
    progress_text: String,
}

/// `GET /app/program`: every module and step with its state.
pub async fn show_program(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let Some(program) = user_program(&state, &user) else {
        return Ok(see_other("/app"));
    };
    touch_activity(&state, &user).await;
    let completed = completed_steps(&state, &user, program.slug.as_str()).await?;
    let lang = ctx.lang;
    let statuses = program.progress(&completed);
    let mut modules: Vec<ModuleView> = Vec::new();
    for s in &statuses {
        if modules.last().is_none_or(|m| m.id != s.module.id.as_str()) {
            modules.push(ModuleView {
                id: s.module.id.to_string(),
                title: s.module.title.get(lang).to_owned(),
                summary: s.module.summary.get(lang).to_owned(),
                steps: Vec::new(),
            });
        }
        let (key, class) = match s.state {
            StepState::Completed => ("program.state_completed", "completed"),
            StepState::Available => ("program.state_available", "available"),
            StepState::Locked => ("program.state_locked", "locked"),
        };
        if let Some(m) = modules.last_mut() {
            m.steps.push(StepView {
                title: s.step.title.get(lang).to_owned(),
                href: (s.state != StepState::Locked).then(|| step_href(&s.step.id)),
                state_label: ctx.t(key).to_owned(),
                state_class: class,
            });
        }
    }
    let done = statuses
        .iter()
        .filter(|s| s.state == StepState::Completed)
        .count();
    let total = statuses.len();
    let progress_text = ctx.tr.fill(
        "program.steps_done",
        &[("done", &done.to_string()), ("total", &total.to_string())],
    );
    let page = ProgramPage {
        title: program.title.get(lang).to_owned(),
        intro_html: state
            .content
            .intro_html(program.slug.as_str(), lang)
            .unwrap_or_default()
            .to_owned(),
        modules,
        done,
        total,
        progress_text,
        ctx,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "program/step.html")]
struct StepPage {
    ctx: Ctx,
    module_title: String,
    title: String,
    body_html: String,
    step_id: String,
    completed: bool,
    /// For exercises with a form: (href, form title).
    form_link: Option<(String, String)>,
    next: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "program/locked.html")]
struct LockedPage {
    ctx: Ctx,
    title: String,
    next: Option<(String, String)>,
}

/// `GET /app/steps/{step_id}`: a page or exercise; questionnaire and
/// registration steps lead on to their forms. A locked step gets a
/// friendly explanation and a link to where to continue.
pub async fn show_step(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let Some(program) = user_program(&state, &user) else {
        return Ok(see_other("/app"));
    };
    let step_id = path.into_inner();
    let (module, step) = program.step(&step_id).ok_or(AppError::NotFound)?;
    let completed = completed_steps(&state, &user, program.slug.as_str()).await?;
    let lang = ctx.lang;
    let next = program
        .next_step(&completed)
        .map(|s| (step_href(&s.step.id), s.step.title.get(lang).to_owned()));
    if !program.is_unlocked(&step_id, &completed) {
        let page = LockedPage {
            ctx,
            title: step.title.get(lang).to_owned(),
            next,
        };
        return Ok(html(page.render()?));
    }
    touch_activity(&state, &user).await;
    {
        let account = user.account_id();
        let slug = program.slug.to_string();
        let id = step.id.to_string();
        let now = state.clock.now();
        state
            .store
            .run(move |conn| ProgressRow::mark_seen(conn, &account, &slug, &id, now))
            .await?;
    }
    match &step.kind {
        StepKind::Questionnaire { questionnaire } => {
            return Ok(see_other(&format!(
                "/app/questionnaires/{questionnaire}?step={}",
                step.id
            )));
        }
        StepKind::Registration { registration } => {
            return Ok(see_other(&format!(
                "/app/registrations/{registration}/new?step={}",
                step.id
            )));
        }
        StepKind::Page { .. } | StepKind::Exercise { .. } => {}
    }
    let form_link = step.kind.registration().and_then(|r| {
        state.content.registration(r.as_str()).map(|form| {
            (
                format!("/app/registrations/{r}/new?step={}", step.id),
                form.title.get(lang).to_owned(),
            )
        })
    });
    let page = StepPage {
        module_title: module.title.get(lang).to_owned(),
        title: step.title.get(lang).to_owned(),
        body_html: state
            .content
            .step_html(program.slug.as_str(), step.id.as_str(), lang)
            .unwrap_or_default()
            .to_owned(),
        step_id: step.id.to_string(),
        completed: completed.contains(&step.id),
        form_link,
        next: next.filter(|(href, _)| *href != step_href(&step.id)),
        ctx,
    };
    Ok(html(page.render()?))
}

/// `POST /app/steps/{step_id}/done`: marks a page or exercise done and
/// goes on to the next step.
pub async fn complete_step(
    state: web::Data<AppState>,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let Some(program) = user_program(&state, &user) else {
        return Ok(see_other("/app"));
    };
    let step_id = path.into_inner();
    let (_, step) = program.step(&step_id).ok_or(AppError::NotFound)?;
    let mut completed = completed_steps(&state, &user, program.slug.as_str()).await?;
    if !program.is_unlocked(&step_id, &completed) {
        // The locked page explains what to do.
        return Ok(see_other(&step_href(&step.id)));
    }
    if !matches!(step.kind, StepKind::Page { .. } | StepKind::Exercise { .. }) {
        // Questionnaires and registrations are completed by submitting.
        return Ok(see_other(&step_href(&step.id)));
    }
    let account = user.account_id();
    let slug = program.slug.to_string();
    let id = step.id.to_string();
    let now = state.clock.now();
    state
        .store
        .run(move |conn| ProgressRow::mark_completed(conn, &account, &slug, &id, now))
        .await?;
    completed.insert(step.id.clone());
    Ok(match program.next_step(&completed) {
        Some(next) => see_other(&step_href(&next.step.id)),
        None => see_other("/app/program"),
    })
}

/// The program choice form.
#[derive(Debug, Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    program: String,
}

/// `POST /app/program/choose`: an account without a program picks one.
pub async fn choose_program(
    state: web::Data<AppState>,
    user: UserSession,
    form: web::Form<ChooseForm>,
) -> Result<HttpResponse, AppError> {
    let slug = form.into_inner().program;
    if state.content.program(&slug).is_none() {
        return Ok(see_other("/app?choose_error=true"));
    }
    let account = user.account_id();
    state
        .store
        .run(move |conn| progress::choose_program(conn, &account, &slug))
        .await?;
    Ok(see_other("/app"))
}
