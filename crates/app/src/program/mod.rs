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

use mestring_domain::content::{Program, StepId};
use mestring_store::activity::ActivityDayRow;
use mestring_store::progress::ProgressRow;
use mestring_web::route;
use mestring_web::routes::RouteDef;
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState};

/// The program routes, in registration order.
pub fn routes() -> Vec<RouteDef> {
    vec![
        route!(Get, "/app/program", User, steps::show_program),
        route!(Post, "/app/program/choose", User, steps::choose_program),
        route!(Get, "/app/steps/{step_id}", User, steps::show_step),
        route!(
            Post,
            "/app/steps/{step_id}/done",
            User,
            steps::complete_step
        ),
        route!(
            Get,
            "/app/questionnaires/{id}",
            User,
            questionnaire::show_form
        ),
        route!(
            Post,
            "/app/questionnaires/{id}",
            User,
            questionnaire::submit_form
        ),
        route!(Get, "/app/results", User, questionnaire::show_results),
        route!(
            Get,
            "/app/results/{response_id}",
            User,
            questionnaire::show_result
        ),
        route!(
            Get,
            "/app/results/{response_id}/void",
            User,
            questionnaire::show_void
        ),
        route!(
            Post,
            "/app/results/{response_id}/void",
            User,
            questionnaire::void_result
        ),
        route!(Get, "/app/registrations", User, registration::show_list),
        route!(
            Get,
            "/app/registrations/entries/{id}/edit",
            User,
            registration::show_edit
        ),
        route!(
            Post,
            "/app/registrations/entries/{id}/edit",
            User,
            registration::submit_edit
        ),
        route!(
            Get,
            "/app/registrations/entries/{id}/delete",
            User,
            registration::show_delete
        ),
        route!(
            Post,
            "/app/registrations/entries/{id}/delete",
            User,
            registration::delete_entry
        ),
        route!(
            Get,
            "/app/registrations/{id}/new",
            User,
            registration::show_form
        ),
        route!(
            Post,
            "/app/registrations/{id}/new",
            User,
            registration::submit_form
        ),
        route!(Get, "/app/feedback/{kind}", User, feedback::show_form),
        route!(Post, "/app/feedback/{kind}", User, feedback::submit_form),
    ]
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
        .run(move |conn| ProgressRow::in_program(conn, &account, &program))
        .await?
        .completed)
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
