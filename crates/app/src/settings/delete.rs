//! "Slett alle data": self-delete, after an explanation and a
//! confirmation.

use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_store::deletion;
use mestring_web::page::{html, see_other};
use mestring_web::session::{self, SESSION_COOKIE, UserSession};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "settings/delete.html")]
struct DeletePage {
    ctx: Ctx,
    has_org: bool,
    /// The account came from a portal launch (docs/oidc.md).
    launched: bool,
    error: Option<String>,
}

/// `GET /settings/delete`: consequences first.
pub async fn show_delete(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let launched = super::launched(&state, &user).await?;
    let page = DeletePage {
        ctx,
        has_org: user.account.org_id.is_some(),
        launched,
        error: None,
    };
    Ok(html(page.render()?))
}

/// The confirmation.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /settings/delete`: deletes every row about the account in one
/// transaction (sessions included), then checkpoints SQLite's WAL so the
/// deleted bytes leave it too.
pub async fn delete_everything(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    if form.confirm != "yes" {
        let error = Some(ctx.t("settings.delete.confirm_missing").to_owned());
        let launched = super::launched(&state, &user).await?;
        let page = DeletePage {
            ctx,
            has_org: user.account.org_id.is_some(),
            launched,
            error,
        };
        return Ok(HttpResponse::UnprocessableEntity()
            .content_type("text/html; charset=utf-8")
            .body(page.render()?));
    }
    let account = user.account_id();
    let now = state.clock.now();
    // The ledger first: if the database step then fails, the user's wish
    // is still on record, and a later restore honours it.
    state
        .deletions
        .record(account.as_str(), now.timestamp())
        .map_err(|e| AppError::internal(e.to_string()))?;
    state
        .store
        .run(move |conn| deletion::delete_account(conn, &account, now))
        .await?;
    if let Err(e) = state.store.checkpoint().await {
        // The rows are gone; only the WAL copy waits for the next checkpoint.
        tracing::error!(error = %e, "WAL checkpoint after deletion failed");
    }
    tracing::info!("account deleted by its user");
    let mut res = see_other("/deleted");
    res.add_cookie(&session::removal_cookie(
        SESSION_COOKIE,
        state.config.secure_cookies,
    ))
    .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(res)
}

#[derive(Template)]
#[template(path = "settings/deleted.html")]
struct DeletedPage {
    ctx: Ctx,
}

/// `GET /deleted`: confirmation after deletion.
pub async fn show_deleted(mut ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.logged_in = false;
    Ok(html(DeletedPage { ctx }.render()?))
}
