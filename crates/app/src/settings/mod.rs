//! Settings: sharing consent, code rotation, export and self-delete —
//! the user's control over their data (promises 3, 4, 5 and 9 in docs/architecture.md).

mod code;
mod consent;
mod delete;
mod export;
mod reminders;

use mestring_web::route;
use mestring_web::routes::RouteDef;

pub use consent::after_login_destination;

/// The settings routes, in registration order.
pub fn routes() -> Vec<RouteDef> {
    vec![
        route!(Get, "/settings", User, consent::show_settings),
        route!(Get, "/consent", User, consent::show_question),
        route!(Post, "/consent", User, consent::answer_question),
        route!(Get, "/consent/renew", User, consent::show_renewal),
        route!(Post, "/consent/renew", User, consent::answer_renewal),
        route!(Post, "/settings/sharing", User, consent::change_sharing),
        route!(Get, "/settings/code", User, code::show_rotation),
        route!(Post, "/settings/code/new", User, code::new_code),
        route!(Post, "/settings/code/confirm", User, code::confirm_code),
        route!(Get, "/settings/export", User, export::show_export),
        route!(Get, "/settings/export.json", User, export::export_json),
        route!(Get, "/settings/export.fhir.json", User, export::export_fhir),
        route!(
            Get,
            "/settings/export/scores.csv",
            User,
            export::export_scores_csv
        ),
        route!(Get, "/settings/reminders", User, reminders::show_reminders),
        route!(
            Get,
            "/settings/reminders.ics",
            User,
            reminders::download_reminders
        ),
        route!(Get, "/settings/delete", User, delete::show_delete),
        route!(Post, "/settings/delete", User, delete::delete_everything),
        route!(Get, "/deleted", Public, delete::show_deleted),
    ]
}

/// Whether the user's account came from a portal launch: its delete and
/// code pages say what that means (docs/oidc.md).
async fn launched(
    state: &mestring_web::AppState,
    user: &mestring_web::session::UserSession,
) -> Result<bool, mestring_web::AppError> {
    let id = user.account_id();
    Ok(state
        .store
        .run(move |conn| mestring_store::oidc::is_launched(conn, &id))
        .await?)
}
