//! Settings: sharing consent, code rotation, export and self-delete —
//! the user's control over their data (promises 3, 4, 5 and 9 in docs/architecture.md).

mod code;
mod consent;
mod delete;
mod export;
mod reminders;

use actix_web::web;

pub use consent::after_login_destination;

/// Registers the settings routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(consent::show_settings))
        .route("/consent", web::get().to(consent::show_question))
        .route("/consent", web::post().to(consent::answer_question))
        .route("/consent/renew", web::get().to(consent::show_renewal))
        .route("/consent/renew", web::post().to(consent::answer_renewal))
        .route("/settings/sharing", web::post().to(consent::change_sharing))
        .route("/settings/code", web::get().to(code::show_rotation))
        .route("/settings/code/new", web::post().to(code::new_code))
        .route("/settings/code/confirm", web::post().to(code::confirm_code))
        .route("/settings/export", web::get().to(export::show_export))
        .route("/settings/export.json", web::get().to(export::export_json))
        .route(
            "/settings/export.fhir.json",
            web::get().to(export::export_fhir),
        )
        .route(
            "/settings/export/scores.csv",
            web::get().to(export::export_scores_csv),
        )
        .route(
            "/settings/reminders",
            web::get().to(reminders::show_reminders),
        )
        .route(
            "/settings/reminders.ics",
            web::get().to(reminders::download_reminders),
        )
        .route("/settings/delete", web::get().to(delete::show_delete))
        .route(
            "/settings/delete",
            web::post().to(delete::delete_everything),
        )
        .route("/deleted", web::get().to(delete::show_deleted));
}
