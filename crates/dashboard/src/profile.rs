//! `/dashboard/profile`: a staff member sees everything held about them,
//! corrects their name, changes their password and re-enrols TOTP, and
//! downloads their own staff data. Changing a credential asks for both
//! current factors (a session left open on a shared computer must not be
//! enough) and ends the person's other sessions.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::{StaffHome, StaffRole, StaffRow};
use mestring_store::staff_sessions::StaffSessionRow;
use mestring_store::staff_views::StaffViewRow;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::codes::masked_pseudonym;
use crate::password::{self, check_new};
use crate::session::AnyStaff;
use crate::totp::{SEAL_PURPOSE, TotpSecret};
use crate::{fmt_date_time, html_status};

/// How many of one's own access-log entries the profile lists.
const OWN_VIEWS_SHOWN: i64 = 200;

/// The most characters a display name may have.
pub const MAX_NAME_CHARS: usize = 200;

/// Everything held about a staff member, as shown and exported.
#[derive(Debug, serde::Serialize)]
pub struct Profile {
    name: String,
    email: String,
    role: &'static str,
    organisation: String,
    /// The HPR number a superuser entered for HelseID logins.
    hpr_number: Option<String>,
    invited_at: String,
    activated_at: Option<String>,
    last_login_at: Option<String>,
    previous_login_at: Option<String>,
    /// Own access-log entries: (when, masked pseudonym).
    views: Vec<(String, String)>,
}

async fn load(state: &AppState, staff: &AnyStaff) -> Result<Profile, AppError> {
    let id = staff.id();
    let home = staff.home.clone();
    let load_home = home.clone();
    let (person, org_name, views, hpr_number) = state
        .store
        .run(move |conn| {
            let person = StaffRow::find(conn, &id)?;
            let hpr = mestring_store::oidc::staff_hpr(conn, &id)?;
            // A tool manager opens no user's page, so has no access log.
            Ok(match &load_home {
                StaffHome::Organisation(org) => (
                    person,
                    OrganisationRow::find(conn, org)?.name,
                    StaffViewRow::list_for_staff(conn, &id, OWN_VIEWS_SHOWN)?,
                    hpr,
                ),
                StaffHome::Channel(ch) => (
                    person,
                    ChannelRow::find(conn, ch)?.map_or_else(|| ch.to_string(), |c| c.name),
                    Vec::new(),
                    hpr,
                ),
            })
        })
        .await?;
    Ok(Profile {
        name: person.name.clone(),
        email: person.email.clone(),
        role: person.role().as_str(),
        organisation: org_name,
        hpr_number,
        invited_at: fmt_date_time(person.created_at),
        activated_at: person.activated_at.map(fmt_date_time),
        last_login_at: person.last_login_at.map(fmt_date_time),
        previous_login_at: person.previous_login_at.map(fmt_date_time),
        views: views
            .into_iter()
            .map(|v| {
                (
                    fmt_date_time(v.at),
                    v.pseudonym
                        .as_deref()
                        .zip(match &home {
                            StaffHome::Organisation(org) => Some(org),
                            StaffHome::Channel(_) => None,
                        })
                        .and_then(|(p, org)| masked_pseudonym(&state.seal, org, p))
                        .unwrap_or_else(|| "–".to_owned()),
                )
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "dashboard/profile.html")]
struct ProfilePage {
    ctx: Ctx,
    p: Profile,
    role_text: String,
    notice: Option<String>,
    /// (form, message): which form the error belongs to.
    error: Option<(&'static str, String)>,
    min_chars: usize,
    /// A tool manager's menu (the channel) instead of the organisation's.
    channel_nav: bool,
}

async fn page(
    state: &AppState,
    staff: &AnyStaff,
    ctx: Ctx,
    notice: Option<String>,
    error: Option<(&'static str, String)>,
) -> Result<HttpResponse, AppError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let p = load(state, staff).await?;
    let role_text = match staff.person.role() {
        StaffRole::Clinician => ctx.t("dashboard.role_clinician"),
        StaffRole::Superuser => ctx.t("dashboard.role_superuser"),
        StaffRole::ToolManager => ctx.t("dashboard.role_tool_manager"),
    }
    .to_owned();
    let page = ProfilePage {
        p,
        role_text,
        notice,
        error,
        min_chars: mestring_domain::policy::password::MIN_CHARS,
        channel_nav: matches!(staff.home, StaffHome::Channel(_)),
        ctx,
    };
    Ok(html_status(status, page.render()?))
}

/// Notices after a redirect.
#[derive(Debug, Deserialize)]
pub struct ProfileQuery {
    #[serde(default)]
    done: String,
}

/// `GET /dashboard/profile`.
pub async fn show(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
    q: web::Query<ProfileQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = match q.done.as_str() {
        "name" => Some(ctx.t("dashboard.profile_name_saved").to_owned()),
        "password" => Some(ctx.t("dashboard.profile_password_saved").to_owned()),
        "totp" => Some(ctx.t("dashboard.profile_totp_saved").to_owned()),
        _ => None,
    };
    page(&state, &staff, ctx, notice, None).await
}

/// `GET /dashboard/profile/export.json`: the same as the page, as JSON.
pub async fn export(state: web::Data<AppState>, staff: AnyStaff) -> Result<HttpResponse, AppError> {
    let p = load(&state, &staff).await?;
    let body = serde_json::json!({
        "format": "mestring-staff-export-v1",
        "exported_at": state.clock.now().to_rfc3339(),
        "profile": p,
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"mestring-staff-export.json\"",
        ))
        .body(serde_json::to_string_pretty(&body).map_err(|e| AppError::internal(e.to_string()))?))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

/// A checked display name, or the message key saying why not.
pub fn checked_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        Err("dashboard.profile_name_invalid")
    } else {
        Ok(name.to_owned())
    }
}

/// The name form.
#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /dashboard/profile/name`.
pub async fn submit_name(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, AppError> {
    let name = match checked_name(&form.name) {
        Ok(n) => n,
        Err(key) => {
            let msg = ctx.t(key).to_owned();
            return page(&state, &staff, ctx, None, Some(("name", msg))).await;
        }
    };
    let id = staff.id();
    state
        .store
        .run(move |conn| StaffRow::set_own_name(conn, &id, &name))
        .await?;
    tracing::info!(staff = %staff.id(), "staff corrected their name");
    Ok(see_other("/dashboard/profile?done=name"))
}

/// Checks the current password and TOTP code; counts a failure against
/// the per-account limit. `Ok(step)` is the accepted TOTP step.
async fn check_factors(
    state: &AppState,
    staff: &AnyStaff,
    password: &str,
    code: &str,
) -> Result<Option<i64>, AppError> {
    let id = staff.id();
    let now = state.clock.now();
    // Counted before the slow password check, forgiven when both factors
    // were right (see `login::first_step`).
    let check_id = id.clone();
    let Some(attempt) = state
        .store
        .transaction(move |conn| StaffRow::reserve_attempt(conn, &check_id, now))
        .await?
    else {
        return Ok(None);
    };
    let password_ok =
        password::verify(password.to_owned(), staff.person.password_hash.clone()).await;
    let step = TotpSecret::open_sealed(
        &state.seal,
        id.as_str(),
        staff.person.totp_secret.as_deref(),
    )
    .and_then(|s| s.verify(code, now));
    let claim_id = id.clone();
    let accepted = match (password_ok, step) {
        (true, Some(step)) => {
            state
                .store
                .transaction(move |conn| {
                    let claimed = StaffRow::claim_totp_step(conn, &claim_id, step)?;
                    if claimed {
                        StaffRow::forgive_attempt(conn, &attempt)?;
                    }
                    Ok(claimed)
                })
                .await?
        }
        _ => false,
    };
    if accepted {
        return Ok(step);
    }
    tracing::info!(staff = %id, "staff profile: current factors refused");
    Ok(None)
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /dashboard/profile/password`: both current factors, then a new
/// password checked as at the invitation; other sessions end.
pub async fn submit_password(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(problem) = check_new(&form.password, &form.repeat, &staff.person.email) {
        let msg = ctx.t(problem.message_key()).to_owned();
        return page(&state, &staff, ctx, None, Some(("password", msg))).await;
    }
    if check_factors(&state, &staff, &form.current, &form.totp)
        .await?
        .is_none()
    {
        let msg = ctx.t("dashboard.profile_factors_wrong").to_owned();
        return page(&state, &staff, ctx, None, Some(("password", msg))).await;
    }
    let phc = password::hash(form.password.clone())
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let (id, keep) = (staff.id(), staff.token_hash.clone());
    state
        .store
        .transaction(move |conn| {
            StaffRow::set_password(conn, &id, &phc)?;
            StaffSessionRow::delete_others(conn, &id, &keep)?;
            Ok(())
        })
        .await?;
    tracing::info!(staff = %staff.id(), "staff changed their password");
    Ok(see_other("/dashboard/profile?done=password"))
}

/// The form starting TOTP re-enrolment.
#[derive(Deserialize)]
pub struct FactorsForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    totp: String,
}

/// `POST /dashboard/profile/totp`: both current factors, then a new
/// secret is made and kept pending until its first code confirms it; the
/// old one works until then.
pub async fn start_totp(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
    form: web::Form<FactorsForm>,
) -> Result<HttpResponse, AppError> {
    if check_factors(&state, &staff, &form.current, &form.totp)
        .await?
        .is_none()
    {
        let msg = ctx.t("dashboard.profile_factors_wrong").to_owned();
        return page(&state, &staff, ctx, None, Some(("totp", msg))).await;
    }
    let id = staff.id();
    let secret = TotpSecret::generate();
    let sealed = state
        .seal
        .seal(SEAL_PURPOSE, id.as_str(), secret.as_bytes());
    state
        .store
        .run(move |conn| StaffRow::set_pending_totp(conn, &id, Some(&sealed)))
        .await?;
    Ok(see_other("/dashboard/profile/totp"))
}

#[derive(Template)]
#[template(path = "dashboard/profile_totp.html")]
struct NewTotpPage {
    ctx: Ctx,
    secret: String,
    qr: String,
    error: Option<String>,
    channel_nav: bool,
}

fn pending_secret(state: &AppState, person: &StaffRow) -> Option<TotpSecret> {
    TotpSecret::open_sealed(
        &state.seal,
        person.id.as_str(),
        person.pending_totp_secret.as_deref(),
    )
}

fn new_totp_page(
    ctx: Ctx,
    person: &StaffRow,
    secret: &TotpSecret,
    error: Option<String>,
) -> Result<String, AppError> {
    let qr = secret.enrolment_qr(&person.email, ctx.t("dashboard.totp_qr_label"));
    Ok(NewTotpPage {
        ctx,
        secret: secret.base32(),
        qr,
        error,
        channel_nav: person.role() == StaffRole::ToolManager,
    }
    .render()?)
}

/// `GET /dashboard/profile/totp`: the pending secret as text and QR code.
pub async fn show_totp(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let Some(secret) = pending_secret(&state, &staff.person) else {
        return Ok(see_other("/dashboard/profile"));
    };
    Ok(html_status(
        StatusCode::OK,
        new_totp_page(ctx, &staff.person, &secret, None)?,
    ))
}

/// The code confirming the new secret.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    totp: String,
}

/// `POST /dashboard/profile/totp/confirm`: a code of the new secret makes
/// it the one that counts; other sessions end.
pub async fn confirm_totp(
    state: web::Data<AppState>,
    staff: AnyStaff,
    ctx: Ctx,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let Some(secret) = pending_secret(&state, &staff.person) else {
        return Ok(see_other("/dashboard/profile"));
    };
    let Some(step) = secret.verify(&form.totp, state.clock.now()) else {
        let error = Some(ctx.t("dashboard.totp_wrong").to_owned());
        return Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            new_totp_page(ctx, &staff.person, &secret, error)?,
        ));
    };
    let (id, keep) = (staff.id(), staff.token_hash.clone());
    // Checked above against this sealed secret: only it may be promoted.
    let checked = staff.person.pending_totp_secret.clone().unwrap_or_default();
    let swapped = state
        .store
        .transaction(move |conn| {
            let swapped = StaffRow::confirm_pending_totp(conn, &id, &checked, step)?;
            if swapped {
                StaffSessionRow::delete_others(conn, &id, &keep)?;
            }
            Ok(swapped)
        })
        .await?;
    if !swapped {
        // Another tab confirmed it or started again: show what is pending
        // now (the profile, if nothing is).
        return Ok(see_other("/dashboard/profile/totp"));
    }
    tracing::info!(staff = %staff.id(), "staff re-enrolled TOTP");
    Ok(see_other("/dashboard/profile?done=totp"))
}
