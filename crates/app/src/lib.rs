//! The end-user app: login, the overview and the pages a user sees.

mod login;
mod pages;
mod program;
mod settings;

pub use login::record_login;
pub use settings::after_login_destination;

use mestring_web::route;
use mestring_web::routes::RouteDef;

/// The end-user routes, in registration order.
pub fn routes() -> Vec<RouteDef> {
    let mut table = vec![
        route!(Get, "/", Public, pages::index),
        route!(Get, "/login", Public, login::show_login),
        route!(Post, "/login", Public, login::submit_login),
        route!(Post, "/logout", Public, login::logout),
        route!(Get, "/app", User, pages::show_home),
        route!(Get, "/privacy", Public, pages::show_privacy),
        route!(Get, "/lang/{lang}", Public, pages::switch_language),
        route!(
            Get,
            "/fhir/Questionnaire/{id}",
            Public,
            pages::fhir_questionnaire
        ),
    ];
    table.extend(program::routes());
    table.extend(settings::routes());
    table
}
