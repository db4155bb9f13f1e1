//! The access log (who opened which user's page) and the deletion
//! records.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_store::deletion::DeletionRecordRow;
use mestring_store::staff_views::StaffViewRow;
use mestring_web::{AppError, AppState, Ctx};

use crate::codes::masked_pseudonym;
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};

/// One line of the access log.
pub struct LogLine {
    at: String,
    staff_name: String,
    pseudonym: String,
}

#[derive(Template)]
#[template(path = "dashboard/access_log.html")]
struct AccessLogPage {
    ctx: Ctx,
    lines: Vec<LogLine>,
}

/// `GET /dashboard/access-log`: superusers read their organisation's log.
pub async fn access_log(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    staff.require_superuser()?;
    let org = staff.org();
    let load = org.clone();
    let rows = state
        .store
        .run(move |conn| StaffViewRow::list_for_org(conn, &load, 500, 0))
        .await?;
    let lines = rows
        .into_iter()
        .map(|r| LogLine {
            at: fmt_date_time(r.at),
            staff_name: r.staff_name,
            pseudonym: r
                .pseudonym
                .as_deref()
                .and_then(|p| masked_pseudonym(&state.seal, &org, p))
                .unwrap_or_else(|| "–".to_owned()),
        })
        .collect();
    Ok(html_status(
        StatusCode::OK,
        AccessLogPage { ctx, lines }.render()?,
    ))
}

/// One deletion record.
pub struct DeletionLine {
    pseudonym: String,
    deleted: String,
}

#[derive(Template)]
#[template(path = "dashboard/deletions.html")]
struct DeletionsPage {
    ctx: Ctx,
    lines: Vec<DeletionLine>,
}

/// `GET /dashboard/deletions`: which codes were deleted by their users.
pub async fn deletions(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let org = staff.org();
    let load = org.clone();
    let rows = state
        .store
        .run(move |conn| DeletionRecordRow::list_for_org(conn, &load))
        .await?;
    let lines = rows
        .iter()
        .map(|r| DeletionLine {
            pseudonym: r
                .pseudonym
                .as_deref()
                .and_then(|p| masked_pseudonym(&state.seal, &org, p))
                .unwrap_or_else(|| "–".to_owned()),
            deleted: fmt_date(r.deleted_at),
        })
        .collect();
    Ok(html_status(
        StatusCode::OK,
        DeletionsPage { ctx, lines }.render()?,
    ))
}
