//! Inviting staff (CLI and superusers) and accepting an invitation:
//! choose a password, then enrol TOTP.

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use mestring_domain::content::Lang;
use mestring_domain::id::Id;
use mestring_mail::Mailer;
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::{
    InvitationRow, NewStaff, StaffHome, StaffRole, StaffRow, normalise_email,
};
use mestring_store::{Store, StoreError};
use mestring_web::i18n::Catalog;
use mestring_web::session::hash_token;
use mestring_web::{AppError, AppState, Ctx};
use rand::RngCore;
use serde::Deserialize;

use crate::html_status;
use crate::password::{self, PasswordProblem};
use crate::totp::{SEAL_PURPOSE, TotpSecret};

use mestring_domain::policy::retention::INVITATION;

/// Why an invitation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// Not an e-mail address.
    #[error("not a valid e-mail address")]
    BadEmail,
    /// Name empty or too long.
    #[error("name must be 1 to 200 characters")]
    BadName,
    /// Someone already has this e-mail address.
    #[error("a staff account with that e-mail address exists")]
    EmailTaken,
    /// No such organisation.
    #[error("no organisation with that id")]
    NoOrg,
    /// No such channel.
    #[error("no channel with that name")]
    NoChannel,
    /// Tool managers belong to a channel; everyone else to an organisation.
    #[error(
        "a tool manager belongs to a channel (--channel), clinicians and superusers to an organisation (--org)"
    )]
    RoleHome,
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

/// A made invitation. `Debug` hides the link (it is a credential).
pub struct Invitation {
    /// The new staff member.
    pub staff_id: Id,
    /// The one-time link.
    pub link: String,
    /// Whether the e-mail went out (the link is valid either way).
    pub mailed: bool,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("staff_id", &self.staff_id)
            .field("mailed", &self.mailed)
            .finish_non_exhaustive()
    }
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in
/// the domain, no spaces, at most 254 characters.
pub fn valid_email(email: &str) -> bool {
    let e = email.trim();
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates an invited staff member, stores a one-time link valid for
/// [`INVITATION`], and e-mails it. A mail failure is logged (by
/// staff id, never the address) and reported in `mailed`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per caller; a parameter struct would only rename the list"
)]
pub async fn invite(
    store: &Store,
    mail: &Arc<Mailer>,
    base_url: &str,
    home: &StaffHome,
    email: &str,
    name: &str,
    role: StaffRole,
    now: DateTime<Utc>,
) -> Result<Invitation, InviteError> {
    if (role == StaffRole::ToolManager) != matches!(home, StaffHome::Channel(_)) {
        return Err(InviteError::RoleHome);
    }
    let email = normalise_email(email);
    let name = name.trim().to_owned();
    if !valid_email(&email) {
        return Err(InviteError::BadEmail);
    }
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InviteError::BadName);
    }
    let token = new_token();
    let token_hash = hash_token(&token);
    let home = home.clone();
    let insert_email = email.clone();
    let expires = now + INVITATION;
    let (staff_id, org_name) = store
        .transaction(move |conn| {
            let home_name = match &home {
                StaffHome::Organisation(org) => match OrganisationRow::find(conn, org) {
                    Ok(o) => o.name,
                    Err(StoreError::NotFound) => return Ok(Err(InviteError::NoOrg)),
                    Err(e) => return Err(e),
                },
                StaffHome::Channel(ch) => match ChannelRow::find(conn, ch)? {
                    Some(c) => c.name,
                    None => return Ok(Err(InviteError::NoChannel)),
                },
            };
            if StaffRow::find_by_email(conn, &insert_email)?.is_some() {
                return Ok(Err(InviteError::EmailTaken));
            }
            let id = StaffRow::insert(
                conn,
                &NewStaff {
                    home: &home,
                    email: &insert_email,
                    name: &name,
                    role,
                },
                now,
            )?;
            InvitationRow::insert(conn, &token_hash, &id, now, expires)?;
            Ok(Ok((id, home_name)))
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict => InviteError::EmailTaken,
            other => InviteError::Store(other),
        })??;
    let link = format!("{}/staff/invite/{token}", base_url.trim_end_matches('/'));
    let nb = Catalog::get(Lang::Nb);
    let subject = nb.t("dashboard.invite_mail_subject").to_owned();
    let body = nb.fill(
        "dashboard.invite_mail_body",
        &[
            ("org", &org_name),
            ("link", &link),
            ("hours", &INVITATION.num_hours().to_string()),
        ],
    );
    let mailed = match mail.send(email, subject, body).await {
        Ok(()) => {
            tracing::info!(staff = %staff_id, "invitation sent");
            true
        }
        Err(e) => {
            tracing::warn!(staff = %staff_id, error = %e, "invitation e-mail not sent");
            false
        }
    };
    Ok(Invitation {
        staff_id,
        link,
        mailed,
    })
}

#[derive(Template)]
#[template(path = "dashboard/invite_password.html")]
struct PasswordPage {
    ctx: Ctx,
    token: String,
    name: String,
    error: Option<String>,
    min_chars: usize,
}

#[derive(Template)]
#[template(path = "dashboard/invite_totp.html")]
struct TotpPage {
    ctx: Ctx,
    token: String,
    secret: String,
    qr: String,
    error: Option<String>,
}

async fn open_invitation(
    state: &AppState,
    token: &str,
) -> Result<(InvitationRow, StaffRow), AppError> {
    // Tokens are 64 hex digits; anything else is not an invitation.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let hash = hash_token(token);
    let now = state.clock.now();
    state
        .store
        .run(move |conn| InvitationRow::find_open(conn, &hash, now))
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /staff/invite/{token}`: choose a password.
pub async fn show_password(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (_, person) = open_invitation(&state, &token).await?;
    let page = PasswordPage {
        ctx,
        token,
        name: person.name,
        error: None,
        min_chars: password::MIN_CHARS,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}

/// The password form. No `Debug`: it holds the password.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
}

/// `POST /staff/invite/{token}`: checks and stores the password and a new
/// (sealed) TOTP secret, then shows the TOTP step.
pub async fn submit_password(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (_, person) = open_invitation(&state, &token).await?;
    let form = form.into_inner();
    if let Err(problem) = password::check_new(&form.password, &form.password_repeat, &person.email)
    {
        let error = Some(ctx.t(PasswordProblem::message_key(problem)).to_owned());
        let page = PasswordPage {
            ctx,
            token,
            name: person.name,
            error,
            min_chars: password::MIN_CHARS,
        };
        return Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            page.render()?,
        ));
    }
    let phc = password::hash(form.password)
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let id = person.id.clone();
    let secret = TotpSecret::generate();
    let sealed = state
        .seal
        .seal(SEAL_PURPOSE, id.as_str(), secret.as_bytes());
    let stored = state
        .store
        .run(move |conn| StaffRow::set_invited_credentials(conn, &id, &phc, &sealed))
        .await?;
    if !stored {
        // Activated (in another tab) since the invitation was opened.
        return Err(AppError::NotFound);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/staff/invite/{token}/totp")))
        .finish())
}

fn totp_secret_of(state: &AppState, person: &StaffRow) -> Option<TotpSecret> {
    TotpSecret::open_sealed(
        &state.seal,
        person.id.as_str(),
        person.totp_secret.as_deref(),
    )
}

fn totp_page(
    ctx: Ctx,
    token: String,
    person: &StaffRow,
    secret: &TotpSecret,
    error: Option<String>,
) -> Result<String, AppError> {
    let qr = secret.enrolment_qr(&person.email, ctx.t("dashboard.totp_qr_label"));
    Ok(TotpPage {
        ctx,
        token,
        secret: secret.base32(),
        qr,
        error,
    }
    .render()?)
}

/// `GET /staff/invite/{token}/totp`: the secret as text and QR code.
pub async fn show_totp(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (_, person) = open_invitation(&state, &token).await?;
    let Some(secret) = totp_secret_of(&state, &person) else {
        // Password not chosen yet: back to the first step.
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/staff/invite/{token}")))
            .finish());
    };
    Ok(html_status(
        StatusCode::OK,
        totp_page(ctx, token, &person, &secret, None)?,
    ))
}

/// The TOTP confirmation form.
#[derive(Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    totp: String,
}

/// `POST /staff/invite/{token}/totp`: a current code activates the
/// account and uses up the invitation.
pub async fn submit_totp(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<TotpForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (inv, person) = open_invitation(&state, &token).await?;
    let Some(secret) = totp_secret_of(&state, &person) else {
        return Err(AppError::NotFound);
    };
    let now = state.clock.now();
    let Some(step) = secret.verify(&form.totp, now) else {
        let error = Some(ctx.t("dashboard.totp_wrong").to_owned());
        return Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            totp_page(ctx, token, &person, &secret, error)?,
        ));
    };
    let id = person.id.clone();
    let verified = person.totp_secret.clone().unwrap_or_default();
    // Activated only with the secret the code was checked against: a
    // password step in another tab since then replaced it, and the
    // owner's authenticator would not match the stored one.
    let used = state
        .store
        .transaction(move |conn| {
            if !StaffRow::activate_invited(conn, &id, &verified, step, now)? {
                return Ok(false);
            }
            if !InvitationRow::mark_used(conn, &inv.token_hash, now)? {
                // Used meanwhile: undo the activation with the rest.
                return Err(StoreError::Conflict);
            }
            Ok(true)
        })
        .await;
    match used {
        Ok(true) => {}
        Ok(false) | Err(StoreError::Conflict) => {
            // Back to the TOTP step: it shows the secret now stored, or
            // says the invitation is gone.
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/staff/invite/{token}/totp")))
                .finish());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(staff = %person.id, "staff account activated");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/staff/login?activated=true"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_is_plausible_not_strict() {
        assert!(valid_email("kari@klinikk.no"));
        assert!(valid_email(" Kari.Nordmann+x@helse.example.no "));
        assert!(!valid_email("kari"));
        assert!(!valid_email("kari@localhost"));
        assert!(!valid_email("ka ri@klinikk.no"));
        assert!(!valid_email("@klinikk.no"));
        assert!(!valid_email("a@b@c.no"));
    }
}
