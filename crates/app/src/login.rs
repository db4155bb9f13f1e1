//! Logging in with an access code, and out.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use mestring_domain::access_code::{AccessCode, CodeError};
use mestring_domain::id::Id;
use mestring_domain::policy;
use mestring_ipcrypt::RequestIp;
use mestring_store::accounts::AccountRow;
use mestring_store::sessions::SessionRow;
use mestring_store::{DbConn, StoreError};
use mestring_web::error::throttled;
use mestring_web::session::{self, SESSION_COOKIE};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Ctx,
    /// The code-format hint, with the code length filled in.
    hint: String,
    error: Option<String>,
    notice: Option<String>,
    typed: String,
}

/// A login message with the code rules filled in from the policy.
fn code_message(ctx: &Ctx, key: &str) -> String {
    ctx.tr.fill(
        key,
        &[
            ("symbols", &policy::code::SYMBOLS.to_string()),
            ("years", &policy::code::LIFETIME_YEARS.to_string()),
        ],
    )
}

/// `GET /login`.
pub async fn show_login(ctx: Ctx, q: web::Query<LoginQuery>) -> Result<HttpResponse, AppError> {
    let notice = q.logged_out.then(|| ctx.t("login.logged_out").to_owned());
    let page = LoginPage {
        hint: code_message(&ctx, "login.code_hint"),
        ctx,
        error: None,
        notice,
        typed: String::new(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// Query flags for the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    logged_out: bool,
}

/// The login form. `Debug` is not derived: it holds the code.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    code: String,
}

fn form_error(ctx: Ctx, key: &str, typed: String) -> Result<HttpResponse, AppError> {
    let error = Some(code_message(&ctx, key));
    let page = LoginPage {
        hint: code_message(&ctx, "login.code_hint"),
        ctx,
        error,
        notice: None,
        typed,
    };
    Ok(
        HttpResponse::build(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY)
            .content_type("text/html; charset=utf-8")
            .body(page.render()?),
    )
}

/// `POST /login`: throttle check, parse, look up by HMAC, start a session.
pub async fn submit_login(
    state: web::Data<AppState>,
    ctx: Ctx,
    ip: RequestIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(retry) = mestring_web::throttle::login_gate(&state, &ip).await? {
        return throttled(ctx, retry.seconds());
    }

    let typed = form.into_inner().code;
    if typed.trim().is_empty() {
        return form_error(ctx, "login.empty", typed);
    }
    // Format errors are typing mistakes, caught before any lookup; they
    // do not count as failed logins.
    let code = match AccessCode::parse(&typed) {
        Ok(code) => code,
        Err(CodeError::CheckFailed) => return form_error(ctx, "login.check_failed", typed),
        Err(CodeError::WrongLength) => return form_error(ctx, "login.wrong_length", typed),
        Err(CodeError::InvalidCharacter) => {
            return form_error(ctx, "login.invalid_character", typed);
        }
    };

    let hash = state.pepper.hash(&code);
    let now = state.clock.now();
    let lookup = hash.clone();
    let account = state
        .store
        .run(move |conn| AccountRow::find_by_code_hash(conn, &lookup))
        .await?;
    let Some(account) = account else {
        return failed_login(&state, ctx, &ip, typed).await;
    };

    // The login recorded, the session started and the next page chosen in
    // one transaction: one trip to the pool, and on SQLite one turn at the
    // write lock instead of three separate writes. The lookup above was an
    // earlier trip: the first write re-checks the code (see
    // `AccountRow::record_code_login`), so a code replaced in between starts
    // no session that would outlive "every other session ends".
    let token = session::SessionToken::generate();
    let token_hash = token.hash();
    let destination = state
        .store
        .transaction(move |conn| {
            let id = account.id.clone();
            if !account.can_log_in(now) {
                // Expired by age: make it permanent so the daily job and
                // the dashboard agree.
                AccountRow::deactivate(conn, &id, now)?;
                return Ok(None);
            }
            if !AccountRow::record_code_login(conn, &id, &hash, now)? {
                // Replaced or deactivated since the lookup: like an
                // unknown code.
                return Ok(None);
            }
            record_login_day(conn, &id, now)?;
            SessionRow::insert(conn, &token_hash, &id, now)?;
            crate::settings::after_login_destination(conn, &id, account.org_id.is_some(), now)
                .map(Some)
        })
        .await?;
    let Some(destination) = destination else {
        return failed_login(&state, ctx, &ip, typed).await;
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, destination))
        .cookie(token.cookie(SESSION_COOKIE, state.config.secure_cookies))
        .finish())
}

/// A code that logs nobody in (unknown, deactivated or expired): counted
/// towards the throttle, and one message for all three.
async fn failed_login(
    state: &AppState,
    ctx: Ctx,
    ip: &RequestIp,
    typed: String,
) -> Result<HttpResponse, AppError> {
    if let Err(retry) = mestring_web::throttle::record_failed_login(state, ip).await? {
        return throttled(ctx, retry.seconds());
    }
    form_error(ctx, "login.failed", typed)
}

/// Records a successful portal launch: the account's last login, and the
/// coarse login day (Europe/Oslo date) for the privacy statement's "login
/// dates" (see mestring_store::activity). A code login records the same,
/// its first write conditional on the code (`submit_login`).
pub fn record_login(conn: &mut DbConn, account: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
    AccountRow::record_login(conn, account, now)?;
    record_login_day(conn, account, now)
}

/// The coarse login day of a login already recorded on the account.
fn record_login_day(conn: &mut DbConn, account: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
    mestring_store::activity::ActivityDayRow::record_login(
        conn,
        account,
        crate::program::oslo_date(now),
        now,
    )
}

/// `POST /logout`: ends this session (if any) and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let hash = session::hash_token(cookie.value());
        state
            .store
            .run(move |conn| SessionRow::delete(conn, &hash))
            .await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login?logged_out=true"))
        .cookie(session::removal_cookie(
            SESSION_COOKIE,
            state.config.secure_cookies,
        ))
        .finish())
}
