//! `GET /dashboard`: the overview of the organisation's codes, their
//! status, search and pagination.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::access_code::AccessCode;
use mestring_domain::consent::{NotSharingReason, SharingState, sharing_state};
use mestring_store::accounts::AccountRow;
use mestring_store::consent::ConsentRow;
use mestring_store::deletion::DeletionRecordRow;
use mestring_store::staff::{CodeBatchRow, org_account, org_accounts_count, org_accounts_page};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::codes::{MAX_PER_SHEET, masked_pseudonym, open_pseudonym};
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};

/// Rows per overview page.
pub const PAGE_SIZE: i64 = 50;

/// One program in the issue form.
pub struct ProgramChoice {
    slug: String,
    title: String,
}

/// One row of the overview.
pub struct CodeLine {
    account_id: String,
    pseudonym: String,
    program: String,
    issued: String,
    status: String,
    /// Shown only while sharing.
    last_activity: Option<String>,
    sharing: bool,
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
struct HomePage {
    ctx: Ctx,
    staff_name: String,
    superuser: bool,
    programs: Vec<ProgramChoice>,
    max_codes: u32,
    lines: Vec<CodeLine>,
    query: String,
    searched: bool,
    page: i64,
    pages: i64,
    total: i64,
    /// Codes whose users deleted everything (listed on their own page).
    deleted: usize,
}

/// Overview query: search and page.
#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

fn status_text(ctx: &Ctx, account: &AccountRow, state: &SharingState) -> (String, bool) {
    if let Some(at) = account.deactivated_at() {
        return (
            ctx.tr
                .fill("dashboard.status_deactivated", &[("date", &fmt_date(at))]),
            false,
        );
    }
    match state {
        SharingState::Sharing { lapses_at, .. } => (
            ctx.tr.fill(
                "dashboard.status_sharing",
                &[("date", &fmt_date(*lapses_at))],
            ),
            true,
        ),
        SharingState::NotSharing {
            reason: NotSharingReason::Withdrawn | NotSharingReason::EndedAtRenewal,
            ..
        } => (ctx.t("dashboard.status_withdrawn").to_owned(), false),
        SharingState::NotSharing {
            reason: NotSharingReason::Lapsed,
            ..
        } => (ctx.t("dashboard.status_lapsed").to_owned(), false),
        SharingState::NotSharing {
            reason: NotSharingReason::Declined,
            ..
        } => (ctx.t("dashboard.status_in_use").to_owned(), false),
        SharingState::NeverAsked if account.last_login_at().is_some() => {
            (ctx.t("dashboard.status_in_use").to_owned(), false)
        }
        SharingState::NeverAsked => (ctx.t("dashboard.status_unused").to_owned(), false),
    }
}

pub(super) fn program_title(state: &AppState, ctx: &Ctx, slug: Option<&str>) -> String {
    slug.and_then(|s| state.content.program(s))
        .map(|p| p.title.get(ctx.lang).to_owned())
        .unwrap_or_else(|| slug.unwrap_or("–").to_owned())
}

/// `GET /dashboard`: the issue form and every code the organisation issued.
pub async fn home(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    q: web::Query<HomeQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let org = staff.org();
    let now = state.clock.now();
    let query = q.q.trim().to_owned();
    let searched = !query.is_empty();
    // Search is by the code as issued: its HMAC finds the account even
    // after the user rotated their code.
    let parsed = if searched {
        AccessCode::parse(&query).ok()
    } else {
        None
    };
    let search_hash = parsed
        .as_ref()
        .map(|c| state.pepper.hash(c).as_str().to_owned());
    let page = q.page.unwrap_or(1).max(1);
    let load_org = org.clone();
    // The list is every existing account, newest first, followed by the
    // codes whose users deleted everything (deletion records, newest
    // first), paginated as one sequence.
    let (rows, deleted_rows, total, deleted) = state
        .store
        .run(move |conn| {
            let deleted = DeletionRecordRow::count_for_org(conn, &load_org)?;
            let (accounts, deleted_rows, total) = if searched {
                let found = match &search_hash {
                    Some(h) => match CodeBatchRow::account_by_issued_hash(conn, &load_org, h)? {
                        Some(id) => org_account(conn, &load_org, &id)?,
                        None => None,
                    },
                    None => None,
                };
                let n = i64::from(found.is_some());
                (found.into_iter().collect::<Vec<_>>(), Vec::new(), n)
            } else {
                let existing = org_accounts_count(conn, &load_org)?;
                // Saturating: a page number far past the end (even
                // i64::MAX) shows an empty page, never an overflow.
                let offset = (page - 1).saturating_mul(PAGE_SIZE);
                let rows = if offset < existing {
                    org_accounts_page(conn, &load_org, PAGE_SIZE, offset)?
                } else {
                    Vec::new()
                };
                let room = PAGE_SIZE - i64::try_from(rows.len()).unwrap_or(PAGE_SIZE);
                let deleted_rows = if room > 0 {
                    let skip = (offset - existing).max(0);
                    DeletionRecordRow::page_for_org(conn, &load_org, room, skip)?
                } else {
                    Vec::new()
                };
                (rows, deleted_rows, existing + deleted)
            };
            let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
            let histories = ConsentRow::histories(conn, &ids)?;
            let out = accounts
                .into_iter()
                .map(|a| {
                    let history = histories.get(&a.id).map_or(&[][..], Vec::as_slice);
                    let state = sharing_state(history, now);
                    (a, state)
                })
                .collect::<Vec<_>>();
            Ok((out, deleted_rows, total, deleted))
        })
        .await?;
    let deleted_line = |pseudonym: String, r: &DeletionRecordRow| CodeLine {
        account_id: String::new(),
        pseudonym,
        program: "–".to_owned(),
        issued: "–".to_owned(),
        status: ctx.tr.fill(
            "dashboard.status_deleted",
            &[("date", &fmt_date(r.deleted_at()))],
        ),
        last_activity: None,
        sharing: false,
    };
    let mut lines: Vec<CodeLine> = rows
        .iter()
        .map(|(a, sharing)| {
            let (status, is_sharing) = status_text(&ctx, a, sharing);
            CodeLine {
                account_id: a.id.clone(),
                pseudonym: a
                    .pseudonym
                    .as_deref()
                    .and_then(|p| masked_pseudonym(&state.seal, &org, p))
                    .unwrap_or_else(|| "–".to_owned()),
                program: program_title(&state, &ctx, a.program_slug.as_deref()),
                issued: fmt_date(a.created_at()),
                status,
                last_activity: if is_sharing {
                    a.last_login_at().map(fmt_date_time)
                } else {
                    None
                },
                sharing: is_sharing,
            }
        })
        .collect();
    for r in &deleted_rows {
        let pseudonym = r
            .pseudonym
            .as_deref()
            .and_then(|p| masked_pseudonym(&state.seal, &org, p))
            .unwrap_or_else(|| "–".to_owned());
        lines.push(deleted_line(pseudonym, r));
    }
    // A search that found no existing account may name a deleted code:
    // only the sealed pseudonym is left, so open each record to compare.
    let mut total = total;
    if let (Some(code), true) = (&parsed, lines.is_empty()) {
        let wanted = code.reveal();
        let load = org.clone();
        let records = state
            .store
            .run(move |conn| DeletionRecordRow::list_for_org(conn, &load))
            .await?;
        for r in &records {
            if let Some(p) = r
                .pseudonym
                .as_deref()
                .and_then(|p| open_pseudonym(&state.seal, &org, p))
                .filter(|p| *p == wanted)
            {
                lines.push(deleted_line(p, r));
                total += 1;
            }
        }
    }
    let deleted = usize::try_from(deleted).unwrap_or(0);
    let programs = state
        .content
        .programs()
        .map(|p| ProgramChoice {
            slug: p.slug.to_string(),
            title: p.title.get(ctx.lang).to_owned(),
        })
        .collect();
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = HomePage {
        staff_name: staff.person.name.clone(),
        superuser: staff.is_superuser(),
        programs,
        max_codes: MAX_PER_SHEET,
        lines,
        query,
        searched,
        page,
        pages,
        total,
        deleted,
        ctx,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}
