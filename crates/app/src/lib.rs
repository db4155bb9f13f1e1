//! The end-user app: login, the overview and the pages a user sees.

mod login;
mod pages;
mod program;
mod settings;

use actix_web::web;

/// Registers the end-user routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::index))
        .route("/login", web::get().to(login::show_login))
        .route("/login", web::post().to(login::submit_login))
        .route("/logout", web::post().to(login::logout))
        .route("/app", web::get().to(pages::show_home))
        .route("/privacy", web::get().to(pages::show_privacy))
        .route("/lang/{lang}", web::get().to(pages::switch_language))
        .route(
            "/fhir/Questionnaire/{id}",
            web::get().to(pages::fhir_questionnaire),
        )
        .configure(program::configure)
        .configure(settings::configure);
}
