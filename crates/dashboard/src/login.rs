//! `/staff/login`: e-mail and password, then a TOTP code.
//!
//! One generic failure message for every reason (unknown e-mail, wrong
//! password, wrong code, deactivated, over the limit), so nothing can be
//! learnt about accounts (ASVS 5.0 6.3.8). Failures are limited per
//! account (at most [`STAFF_FAILURES_PER_HOUR`]) and per IP tag.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use mestring_ipcrypt::RequestIp;
use mestring_store::staff::StaffRow;
use mestring_store::staff_sessions::StaffSessionRow;
use mestring_web::page::see_other;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::session::{self, STAFF_COOKIE};
use crate::totp::TotpSecret;
use crate::{html_status, throttled};

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    ctx: Ctx,
    /// true: ask for the TOTP code; false: e-mail and password.
    second_step: bool,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    /// Offer "Logg inn med HelseID" (first step only).
    helseid: bool,
}

/// Query flags for the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    logged_out: bool,
    #[serde(default)]
    activated: bool,
}

/// `GET /staff/login`: the password step, or the TOTP step while a
/// half-done login is pending.
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: Ctx,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let pending = session::lookup(&state, &req).await?;
    if let Some((s, person)) = &pending
        && s.verified
    {
        return Ok(see_other(session::start_page(person)));
    }
    let notice = if q.logged_out {
        Some(ctx.t("dashboard.logged_out").to_owned())
    } else if q.activated {
        Some(ctx.t("dashboard.activated").to_owned())
    } else {
        None
    };
    let page = LoginPage {
        ctx,
        second_step: pending.is_some(),
        error: None,
        notice,
        email: String::new(),
        helseid: state.config.helseid,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}

/// The login form (either step). `Debug` is not derived: it holds the
/// password and the code.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

fn failed(
    state: &AppState,
    ctx: Ctx,
    second_step: bool,
    email: String,
) -> Result<HttpResponse, AppError> {
    let error = Some(ctx.t("dashboard.login_failed").to_owned());
    let page = LoginPage {
        ctx,
        second_step,
        error,
        notice: None,
        email,
        helseid: state.config.helseid,
    };
    Ok(html_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        page.render()?,
    ))
}

/// `POST /staff/login`: the password step, or (with a `totp` field and a
/// pending login) the second step.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: Ctx,
    ip: RequestIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(retry) = mestring_web::throttle::login_gate(&state, &ip).await? {
        return throttled(ctx, retry.seconds());
    }
    let form = form.into_inner();
    match form.totp {
        Some(code) => second_step(state, req, ctx, ip, code).await,
        None => first_step(state, ctx, ip, form.email, form.password).await,
    }
}

async fn first_step(
    state: web::Data<AppState>,
    ctx: Ctx,
    ip: RequestIp,
    email: String,
    password: String,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let lookup_email = email.clone();
    // The attempt is counted before the password is checked (and forgiven
    // when it was right), so guesses sent at once cannot all pass the
    // per-account limit while each waits for its hash.
    let found = state
        .store
        .transaction(move |conn| {
            let Some(person) = StaffRow::find_by_email(conn, &lookup_email)? else {
                return Ok(None);
            };
            let attempt = StaffRow::reserve_attempt(conn, &person.id, now)?;
            Ok(Some((person, attempt)))
        })
        .await?;
    let stored = found.as_ref().and_then(|(p, _)| p.password_hash.clone());
    // Always hash, so an unknown e-mail costs the same time as a known one.
    let password_ok = crate::password::verify(password, stored).await;
    let ok = match &found {
        Some((person, Some(_))) => password_ok && person.is_active(),
        _ => false,
    };
    if !ok {
        if let Some((person, _)) = &found {
            // Counted already (past the limit nothing more is recorded, so
            // a flood does not grow the table).
            tracing::info!(staff = %person.id, "staff login failed at the password step");
        } else {
            tracing::info!("staff login failed: unknown account");
        }
        if let Err(retry) = mestring_web::throttle::record_failed_login(&state, &ip).await? {
            return throttled(ctx, retry.seconds());
        }
        return failed(&state, ctx, false, email);
    }
    if let Some((_, Some(attempt))) = &found {
        let attempt = attempt.clone();
        state
            .store
            .run(move |conn| StaffRow::forgive_attempt(conn, &attempt))
            .await?;
    }
    let Some((person, _)) = found else {
        return failed(&state, ctx, false, email);
    };
    let token = session::start(&state, person.id.clone(), false).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/staff/login"))
        .cookie(session::cookie(&token, state.config.secure_cookies))
        .finish())
}

async fn second_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: Ctx,
    ip: RequestIp,
    code: String,
) -> Result<HttpResponse, AppError> {
    let Some((pending, person)) = session::lookup(&state, &req).await? else {
        // The half-done login expired: start again (no failure counted).
        return Ok(see_other("/staff/login"));
    };
    if pending.verified {
        return Ok(see_other(session::start_page(&person)));
    }
    let now = state.clock.now();
    let id = person.id.clone();
    let secret = TotpSecret::open_sealed(&state.seal, id.as_str(), person.totp_secret.as_deref());
    let step = secret.and_then(|s| s.verify(&code, now));
    let check_id = id.clone();
    let active = person.is_active();
    // Counted, claimed and (when right) forgiven in one transaction: two
    // codes sent at once take turns on the staff row.
    let accepted = state
        .store
        .transaction(move |conn| {
            let Some(attempt) = StaffRow::reserve_attempt(conn, &check_id, now)? else {
                return Ok(false);
            };
            let accepted = active
                && match step {
                    // Claiming the step refuses a code already used once.
                    Some(step) => StaffRow::claim_totp_step(conn, &check_id, step)?,
                    None => false,
                };
            if accepted {
                StaffRow::forgive_attempt(conn, &attempt)?;
            }
            Ok(accepted)
        })
        .await?;
    if !accepted {
        tracing::info!(staff = %id, "staff login failed at the TOTP step");
        if let Err(retry) = mestring_web::throttle::record_failed_login(&state, &ip).await? {
            return throttled(ctx, retry.seconds());
        }
        return failed(&state, ctx, true, String::new());
    }
    // A new token on authentication (ASVS 3.2.1): the pending one ends.
    let old = pending.token_hash.clone();
    let login_id = id.clone();
    state
        .store
        .run(move |conn| {
            StaffSessionRow::delete(conn, &old)?;
            // The profile shows this login and the one before.
            StaffRow::record_login(conn, &login_id, now)
        })
        .await?;
    let token = session::start(&state, id.clone(), true).await?;
    tracing::info!(staff = %id, "staff logged in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, session::start_page(&person)))
        .cookie(session::cookie(&token, state.config.secure_cookies))
        .finish())
}

/// `POST /staff/logout`: ends this session and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if let Some(c) = req.cookie(STAFF_COOKIE) {
        let hash = mestring_web::session::hash_token(c.value());
        state
            .store
            .run(move |conn| StaffSessionRow::delete(conn, &hash))
            .await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/staff/login?logged_out=true"))
        .cookie(session::removal(state.config.secure_cookies))
        .finish())
}
