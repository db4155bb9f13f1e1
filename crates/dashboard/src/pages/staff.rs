//! Staff management for superusers: the list, invitations and
//! deactivation.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::id::Id;
use mestring_store::staff::{StaffHome, StaffRole, StaffRow};
use mestring_store::staff_sessions::StaffSessionRow;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::invite::{InviteError, invite};
use crate::session::Staff;
use crate::{fmt_date, html_status};

/// One staff member in the superuser's list.
pub struct StaffLine {
    id: String,
    name: String,
    role: String,
    status: String,
    can_deactivate: bool,
    /// Superusers correct clinicians' names and e-mails.
    can_edit: bool,
}

#[derive(Template)]
#[template(path = "dashboard/staff.html")]
struct StaffPage {
    ctx: Ctx,
    lines: Vec<StaffLine>,
    notice: Option<String>,
    error: Option<String>,
}

/// Notices after a redirect.
#[derive(Debug, Deserialize)]
pub struct StaffQuery {
    #[serde(default)]
    invited: bool,
    #[serde(default)]
    deactivated: bool,
    #[serde(default)]
    edited: bool,
}

async fn staff_page(
    state: &AppState,
    staff: &Staff,
    ctx: Ctx,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let org = staff.org();
    let me = staff.id();
    let rows = state
        .store
        .run(move |conn| StaffRow::list_for_org(conn, &org))
        .await?;
    let lines = rows
        .iter()
        .map(|p| StaffLine {
            id: p.id.to_string(),
            name: p.name.clone(),
            role: match p.role() {
                StaffRole::Clinician => ctx.t("dashboard.role_clinician"),
                StaffRole::Superuser => ctx.t("dashboard.role_superuser"),
                StaffRole::ToolManager => ctx.t("dashboard.role_tool_manager"),
            }
            .to_owned(),
            status: if let Some(at) = p.deactivated_at {
                ctx.tr
                    .fill("dashboard.staff_deactivated_on", &[("date", &fmt_date(at))])
            } else if p.activated_at.is_some() {
                ctx.t("dashboard.staff_active").to_owned()
            } else {
                ctx.t("dashboard.staff_invited").to_owned()
            },
            can_deactivate: p.deactivated_at.is_none() && p.id != me,
            can_edit: p.role() == StaffRole::Clinician,
        })
        .collect();
    Ok(html_status(
        status,
        StaffPage {
            ctx,
            lines,
            notice,
            error,
        }
        .render()?,
    ))
}

/// `GET /dashboard/staff`: superusers manage clinicians.
pub async fn staff_list(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    q: web::Query<StaffQuery>,
) -> Result<HttpResponse, AppError> {
    staff.require_superuser()?;
    let notice = if q.invited {
        Some(ctx.t("dashboard.invite_sent").to_owned())
    } else if q.deactivated {
        Some(ctx.t("dashboard.deactivated_notice").to_owned())
    } else if q.edited {
        Some(ctx.t("dashboard.staff_edited").to_owned())
    } else {
        None
    };
    staff_page(&state, &staff, ctx, notice, None, StatusCode::OK).await
}

/// The invite form. No `Debug`: it holds an e-mail address.
#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

/// `POST /dashboard/staff`: invites a clinician by e-mail.
pub async fn staff_invite(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, AppError> {
    staff.require_superuser()?;
    let form = form.into_inner();
    let result = invite(
        &state.store,
        &state.mail,
        &state.config.base_url,
        &StaffHome::Organisation(staff.org()),
        &form.email,
        &form.name,
        StaffRole::Clinician,
        state.clock.now(),
    )
    .await;
    let key = match result {
        Ok(_) => {
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/dashboard/staff?invited=true"))
                .finish());
        }
        Err(InviteError::BadEmail) => "dashboard.invite_bad_email",
        Err(InviteError::BadName) => "dashboard.invite_bad_name",
        Err(InviteError::EmailTaken) => "dashboard.invite_taken",
        Err(InviteError::NoOrg | InviteError::NoChannel | InviteError::RoleHome) => {
            return Err(AppError::NotFound);
        }
        Err(InviteError::Store(e)) => return Err(e.into()),
    };
    let error = Some(ctx.t(key).to_owned());
    staff_page(
        &state,
        &staff,
        ctx,
        None,
        error,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /dashboard/staff/{id}/deactivate`: ends access at once (the
/// person's sessions are deleted in the same transaction).
pub async fn staff_deactivate(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    staff.require_superuser()?;
    let target = Id::parse(&path.into_inner()).map_err(|_| AppError::NotFound)?;
    if target == staff.id() {
        return Err(AppError::BadRequest);
    }
    let org = staff.org();
    let now = state.clock.now();
    let done_target = target.clone();
    let done = state
        .store
        .transaction(move |conn| {
            if !StaffRow::deactivate(conn, &org, &done_target, now)? {
                return Ok(false);
            }
            StaffSessionRow::delete_for_staff(conn, &done_target)?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(AppError::NotFound);
    }
    tracing::info!(staff = %staff.id(), target = %target, "staff deactivated");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/staff?deactivated=true"))
        .finish())
}

#[derive(Template)]
#[template(path = "dashboard/staff_edit.html")]
struct EditPage {
    ctx: Ctx,
    id: String,
    name: String,
    email: String,
    error: Option<String>,
    /// The HPR number HelseID logins map to ("" when none).
    hpr: String,
    hpr_error: Option<String>,
}

impl EditPage {
    /// The edit page for `row` as stored, without errors.
    fn for_row(ctx: Ctx, row: &StaffRow, hpr: String) -> Self {
        Self {
            ctx,
            id: row.id.to_string(),
            name: row.name.clone(),
            email: row.email.clone(),
            error: None,
            hpr,
            hpr_error: None,
        }
    }
}

/// A clinician of the superuser's organisation (`NotFound` otherwise: a
/// superuser corrects their own data on the profile page).
async fn clinician_of(state: &AppState, staff: &Staff, id: &str) -> Result<StaffRow, AppError> {
    staff.require_superuser()?;
    let target = Id::parse(id).map_err(|_| AppError::NotFound)?;
    let row = state
        .store
        .run(move |conn| StaffRow::find(conn, &target))
        .await?;
    if row.org_id.as_ref() != Some(&staff.org()) || row.role() != StaffRole::Clinician {
        return Err(AppError::NotFound);
    }
    Ok(row)
}

/// `GET /dashboard/staff/{id}/edit`: a superuser corrects a clinician's
/// name and e-mail.
pub async fn staff_edit_form(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let row = clinician_of(&state, &staff, &path.into_inner()).await?;
    let hpr = stored_hpr(&state, &row).await?;
    let page = EditPage::for_row(ctx, &row, hpr);
    Ok(html_status(StatusCode::OK, page.render()?))
}

async fn stored_hpr(state: &AppState, row: &StaffRow) -> Result<String, AppError> {
    let id = row.id.clone();
    Ok(state
        .store
        .run(move |conn| mestring_store::oidc::staff_hpr(conn, &id))
        .await?
        .unwrap_or_default())
}

/// The HPR form.
#[derive(Debug, Deserialize)]
pub struct HprForm {
    #[serde(default)]
    hpr: String,
}

/// `POST /dashboard/staff/{id}/hpr`: a superuser sets or clears the HPR
/// number a clinician's HelseID login maps to (docs/oidc.md).
pub async fn staff_hpr(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<HprForm>,
) -> Result<HttpResponse, AppError> {
    let row = clinician_of(&state, &staff, &path.into_inner()).await?;
    let typed = form.into_inner().hpr;
    let again = |ctx: Ctx, key: &str| -> Result<HttpResponse, AppError> {
        let hpr_error = Some(ctx.t(key).to_owned());
        let page = EditPage {
            hpr_error,
            ..EditPage::for_row(ctx, &row, typed.clone())
        };
        Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            page.render()?,
        ))
    };
    let hpr = if typed.trim().is_empty() {
        None
    } else {
        match mestring_domain::oidc::HprNumber::parse(&typed) {
            Ok(h) => Some(h),
            Err(_) => return again(ctx, "oidc.hpr_invalid"),
        }
    };
    let id = row.id.clone();
    let saved = state
        .store
        .run(move |conn| mestring_store::oidc::set_staff_hpr(conn, &id, hpr.as_ref()))
        .await;
    match saved {
        Ok(true) => {}
        Ok(false) | Err(mestring_store::StoreError::Conflict) => {
            return again(ctx, "oidc.hpr_taken");
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(staff = %staff.id(), target = %row.id, "staff HPR number set");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/staff?edited=true"))
        .finish())
}

/// `POST /dashboard/staff/{id}/edit`.
pub async fn staff_edit(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let row = clinician_of(&state, &staff, &path.into_inner()).await?;
    let hpr = stored_hpr(&state, &row).await?;
    let form = form.into_inner();
    let again = |ctx: Ctx, key: &str| -> Result<HttpResponse, AppError> {
        let error = Some(ctx.t(key).to_owned());
        let page = EditPage {
            name: form.name.clone(),
            email: form.email.clone(),
            error,
            ..EditPage::for_row(ctx, &row, hpr.clone())
        };
        Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            page.render()?,
        ))
    };
    let name = match crate::profile::checked_name(&form.name) {
        Ok(n) => n,
        Err(key) => return again(ctx, key),
    };
    if !crate::invite::valid_email(&form.email) {
        return again(ctx, "dashboard.staff_email_invalid");
    }
    let email = mestring_store::staff::normalise_email(&form.email);
    let (org, id) = (staff.org(), row.id.clone());
    let result = state
        .store
        .transaction(move |conn| {
            StaffRow::set_name(conn, &org, &id, &name)?;
            StaffRow::set_email(conn, &org, &id, &email)
        })
        .await;
    match result {
        Ok(_) => {}
        Err(mestring_store::StoreError::Conflict) => {
            return again(ctx, "dashboard.staff_email_taken");
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(staff = %staff.id(), target = %row.id, "staff data corrected");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/staff?edited=true"))
        .finish())
}
