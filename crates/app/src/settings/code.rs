//! "Endre kode": replacing the access code, step by step.
//!
//! First an explanation, then the new code, shown once, which the user
//! types back. Then the old code stops working at once, every other
//! session of the account ends, and this session continues. Only the new
//! code's HMAC is ever stored (first as this session's pending code).

use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::access_code::{AccessCode, CodeHash};
use mestring_store::accounts::AccountRow;
use mestring_store::sessions::SessionRow;
use mestring_web::page::{html, see_other};
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "settings/code.html")]
struct CodePage {
    ctx: Ctx,
    has_org: bool,
    /// The account came from a portal launch (docs/oidc.md).
    launched: bool,
    /// The new code, on the one response that shows it.
    new_code: Option<String>,
    /// Whether the confirm form is shown.
    confirming: bool,
    error: Option<String>,
}

/// `GET /settings/code`: what rotating means.
pub async fn show_rotation(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let launched = super::launched(&state, &user).await?;
    let page = CodePage {
        ctx,
        has_org: user.account.org_id.is_some(),
        launched,
        new_code: None,
        confirming: false,
        error: None,
    };
    Ok(html(page.render()?))
}

/// `POST /settings/code/new`: draws a new code and shows it once.
pub async fn new_code(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let pepper = state.pepper.clone();
    let token_hash = user.token_hash.clone();
    let code = state
        .store
        .run(move |conn| {
            loop {
                let code = AccessCode::generate();
                let hash = pepper.hash(&code);
                if AccountRow::find_by_code_hash(conn, &hash)?.is_none() {
                    SessionRow::set_pending_code(conn, &token_hash, Some(hash.as_str()))?;
                    return Ok(code);
                }
            }
        })
        .await?;
    let page = CodePage {
        ctx,
        has_org: user.account.org_id.is_some(),
        launched: false,
        new_code: Some(code.reveal()),
        confirming: true,
        error: None,
    };
    Ok(html(page.render()?))
}

/// The typed-back code. `Debug` is not derived: it holds a code.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    code: String,
}

/// `POST /settings/code/confirm`: the switch, if the typed code matches.
pub async fn confirm_code(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let typed = AccessCode::parse(&form.code).ok();
    let typed_hash = typed.map(|c| state.pepper.hash(&c));
    let token_hash = user.token_hash.clone();
    let account = user.account_id();
    let switched = state
        .store
        .transaction(move |conn| {
            let Some(pending) = SessionRow::pending_code(conn, &token_hash)? else {
                return Ok(None);
            };
            let matches = typed_hash.as_ref().is_some_and(|h| h.as_str() == pending);
            if !matches {
                return Ok(Some(false));
            }
            AccountRow::replace_code(conn, &account, &CodeHash::from_stored(pending))?;
            SessionRow::set_pending_code(conn, &token_hash, None)?;
            SessionRow::delete_for_account(conn, &account, Some(&token_hash))?;
            Ok(Some(true))
        })
        .await?;
    match switched {
        Some(true) => Ok(see_other("/settings?done=rotated")),
        // Nothing pending (e.g. the page was resubmitted): start over.
        None => Ok(see_other("/settings/code")),
        Some(false) => {
            let error = Some(ctx.t("settings.code.mismatch").to_owned());
            let page = CodePage {
                ctx,
                has_org: user.account.org_id.is_some(),
                launched: false,
                new_code: None,
                confirming: true,
                error,
            };
            Ok(HttpResponse::UnprocessableEntity()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
    }
}
