//! Programs, modules, questionnaires, results, registrations and feedback.
//!
//! Every handler takes a [`UserSession`] (logged-out users go to /login)
//! and works only on the session's own account: ids in URLs are looked up
//! together with the account id, so another account's id is a 404.

mod feedback;
pub(crate) mod home;
mod questionnaire;
mod registration;
mod steps;

use std::collections::BTreeSet;

use actix_web::web;
use mestring_domain::content::{Program, StepId};
use mestring_store::activity::ActivityDayRow;
use mestring_store::progress::ProgressRow;
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState};

/// Registers the program routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/program", web::get().to(steps::show_program))
        .route("/app/program/choose", web::post().to(steps::choose_program))
        .route("/app/steps/{step_id}", web::get().to(steps::show_step))
        .route(
            "/app/steps/{step_id}/done",
            web::post().to(steps::complete_step),
        )
        .route(
            "/app/questionnaires/{id}",
            web::get().to(questionnaire::show_form),
        )
        .route(
            "/app/questionnaires/{id}",
            web::post().to(questionnaire::submit_form),
        )
        .route("/app/results", web::get().to(questionnaire::show_results))
        .route(
            "/app/results/{response_id}",
            web::get().to(questionnaire::show_result),
        )
        .route(
            "/app/results/{response_id}/void",
            web::get().to(questionnaire::show_void),
        )
        .route(
            "/app/results/{response_id}/void",
            web::post().to(questionnaire::void_result),
        )
        .route("/app/registrations", web::get().to(registration::show_list))
        .route(
            "/app/registrations/entries/{id}/edit",
            web::get().to(registration::show_edit),
        )
        .route(
            "/app/registrations/entries/{id}/edit",
            web::post().to(registration::submit_edit),
        )
        .route(
            "/app/registrations/entries/{id}/delete",
            web::get().to(registration::show_delete),
        )
        .route(
            "/app/registrations/entries/{id}/delete",
            web::post().to(registration::delete_entry),
        )
        .route(
            "/app/registrations/{id}/new",
            web::get().to(registration::show_form),
        )
        .route(
            "/app/registrations/{id}/new",
            web::post().to(registration::submit_form),
        )
        .route("/app/feedback/{kind}", web::get().to(feedback::show_form))
        .route(
            "/app/feedback/{kind}",
            web::post().to(feedback::submit_form),
        );
}

pub(crate) use mestring_web::fmt::{
    date as format_date, oslo_date, short_date as format_short_date,
};
pub(crate) use mestring_web::page::{html, html_status, see_other};

/// The value of the first form field called `name`, from a form read as
/// pairs (questionnaire and registration forms carry a hidden `step`).
pub(crate) fn form_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The program the account follows, if it has one the catalog knows.
pub(crate) fn user_program<'a>(state: &'a AppState, user: &UserSession) -> Option<&'a Program> {
    user.account
        .program_slug
        .as_deref()
        .and_then(|slug| state.content.program(slug))
}

/// The steps of `program` the account has completed.
pub(crate) async fn completed_steps(
    state: &AppState,
    user: &UserSession,
    program: &str,
) -> Result<BTreeSet<StepId>, AppError> {
    let account = user.account_id();
    let program = program.to_owned();
    Ok(state
        .store
        .run(move |conn| ProgressRow::completed_steps(conn, &account, &program))
        .await?)
}

/// The URL of a step.
pub(crate) fn step_href(step: &StepId) -> String {
    format!("/app/steps/{step}")
}

/// Counts a page view towards the coarse time spent. A failure here must
/// never cost the user their page, so it is only logged.
pub(crate) async fn touch_activity(state: &AppState, user: &UserSession) {
    let account = user.account_id();
    let now = state.clock.now();
    let day = oslo_date(now);
    if let Err(e) = state
        .store
        .run(move |conn| ActivityDayRow::touch(conn, &account, day, now))
        .await
    {
        tracing::warn!(error = %e, "could not record activity");
    }
}
