//! The dashboard proper: overview of codes, a user's page (only while
//! sharing), the access log, deletion records and staff management.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::access_code::AccessCode;
use mestring_domain::consent::{NotSharingReason, SharingState, sharing_state};
use mestring_domain::id::Id;
use mestring_domain::scoring::{ChangeClass, classify_change};
use mestring_store::accounts::AccountRow;
use mestring_store::consent::{ConsentRow, SharedRead, read_shared_account};
use mestring_store::deletion::DeletionRecordRow;
use mestring_store::progress::ProgressRow;
use mestring_store::registrations::RegistrationRow;
use mestring_store::responses::ResponseRow;
use mestring_store::staff::{
    CodeBatchRow, StaffRole, StaffRow, org_account, org_accounts_count, org_accounts_page,
};
use mestring_store::staff_sessions::StaffSessionRow;
use mestring_store::staff_views::StaffViewRow;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::codes::{MAX_PER_SHEET, masked_pseudonym, open_pseudonym};
use crate::invite::{InviteError, invite};
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};
use mestring_web::chart::{Chart, Point};

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

fn program_title(state: &AppState, ctx: &Ctx, slug: Option<&str>) -> String {
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

/// One questionnaire result for the user's page.
pub struct ResultLine {
    date: String,
    total: i64,
    band: String,
    flagged: bool,
}

/// A questionnaire's results over time.
pub struct ResultSeries {
    title: String,
    lines: Vec<ResultLine>,
    change: Option<String>,
    /// The accessible line chart of the totals (SVG).
    svg: String,
}

/// One registration entry.
pub struct RegistrationLine {
    date: String,
    form: String,
    /// "label: value" per answered field, in form order.
    values: Vec<String>,
}

/// Renders an entry's answers with the form's labels.
fn registration_values(
    form: Option<&mestring_domain::content::RegistrationForm>,
    entry: &mestring_domain::content::Entry,
    lang: mestring_domain::content::Lang,
) -> Vec<String> {
    use mestring_domain::content::{FieldKind, FieldValue};
    let Some(form) = form else {
        return entry.keys().map(|k| k.to_string()).collect();
    };
    let mut out = Vec::new();
    for field in &form.fields {
        let Some(value) = entry.get(&field.id) else {
            continue;
        };
        let options: &[mestring_domain::content::Category] = match &field.kind {
            FieldKind::Choice { options }
            | FieldKind::MultiChoice { options, .. }
            | FieldKind::RatedChoice { options, .. } => options,
            _ => &[],
        };
        let label_of = |id: &mestring_domain::content::CategoryId| {
            options
                .iter()
                .find(|c| &c.id == id)
                .map(|c| c.label.get(lang).to_owned())
                .unwrap_or_else(|| id.to_string())
        };
        let text = match value {
            FieldValue::Scale(n) => n.to_string(),
            FieldValue::Choice(c) => label_of(c),
            FieldValue::MultiChoice(cs) => cs.iter().map(label_of).collect::<Vec<_>>().join(", "),
            FieldValue::Rated(m) => m
                .iter()
                .map(|(c, n)| format!("{} {n}", label_of(c)))
                .collect::<Vec<_>>()
                .join(", "),
            FieldValue::Note(t) => t.clone(),
        };
        out.push(format!("{}: {text}", field.label.get(lang)));
    }
    out
}

/// One step of progress.
pub struct ProgressLine {
    step: String,
    seen: String,
    completed: Option<String>,
}

struct UserData {
    account: AccountRow,
    responses: Vec<ResponseRow>,
    registrations: Vec<(RegistrationRow, mestring_domain::content::Entry)>,
    progress: Vec<ProgressRow>,
}

#[derive(Template)]
#[template(path = "dashboard/user.html")]
struct UserPage {
    ctx: Ctx,
    pseudonym: String,
    /// `None` when sharing is not active: the page says so and nothing else.
    shared: Option<SharedView>,
}

/// What the user's page shows while sharing.
pub struct SharedView {
    program: String,
    last_login: String,
    sharing_until: String,
    progress: Vec<ProgressLine>,
    series: Vec<ResultSeries>,
    item9_flag: bool,
    registrations: Vec<RegistrationLine>,
}

fn change_text(ctx: &Ctx, c: ChangeClass) -> String {
    match c {
        ChangeClass::ReliableImprovement => ctx.t("dashboard.change_improved"),
        ChangeClass::NoReliableChange => ctx.t("dashboard.change_none"),
        ChangeClass::ReliableDeterioration => ctx.t("dashboard.change_worse"),
    }
    .to_owned()
}

fn build_series(state: &AppState, ctx: &Ctx, responses: &[ResponseRow]) -> Vec<ResultSeries> {
    let mut ids: Vec<&str> = responses
        .iter()
        .map(|r| r.questionnaire_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let mut rows: Vec<&ResponseRow> = responses
            .iter()
            .filter(|r| r.questionnaire_id == id)
            .collect();
        rows.sort_by_key(|r| r.completed_at());
        let q = state.content.questionnaire(id);
        let max = q
            .and_then(|q| q.bands.iter().map(|b| b.max).max())
            .unwrap_or(1)
            .max(1);
        let n = rows.len();
        let points: Vec<Point> = rows
            .iter()
            .map(|r| Point {
                label: mestring_web::fmt::short_date(r.completed_at()),
                value: r.total,
            })
            .collect();
        let change = match (q, rows.first(), rows.last()) {
            (Some(q), Some(first), Some(last)) if n >= 2 => Some(change_text(
                ctx,
                classify_change(q, first.total_u32(), last.total_u32()),
            )),
            _ => None,
        };
        let lines = rows
            .iter()
            .map(|r| ResultLine {
                date: fmt_date(r.completed_at()),
                total: r.total,
                band: q
                    .and_then(|q| q.bands.iter().find(|b| b.id.to_string() == r.band_id))
                    .map(|b| b.label.get(ctx.lang).to_owned())
                    .unwrap_or_else(|| r.band_id.clone()),
                flagged: !r.flags().is_empty(),
            })
            .collect();
        let title = q
            .map(|q| format!("{} – {}", q.short_name, q.title.get(ctx.lang)))
            .unwrap_or_else(|| id.to_owned());
        let desc = ctx.tr.fill(
            "dashboard.chart_label",
            &[("name", &title), ("max", &max.to_string())],
        );
        let svg = Chart {
            id: &format!("chart-{id}"),
            title: &title,
            desc: &desc,
            min: 0,
            max: i64::from(max),
            points: &points,
        }
        .render();
        out.push(ResultSeries {
            title,
            lines,
            change,
            svg,
        });
    }
    out
}

/// `GET /dashboard/users/{id}`: a user's data, only while sharing is
/// active, read through the single consent-checking store function. Every
/// opening is logged.
pub async fn user(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let account = Id::parse(&path.into_inner()).map_err(|_| AppError::NotFound)?;
    let org = staff.org();
    let staff_id = staff.id();
    let now = state.clock.now();
    let read_org = org.clone();
    // Not wrapped in a transaction of our own: `read_shared_account` opens
    // one (the consent check and the read), and SQLite cannot nest them.
    let result = state
        .store
        .run(move |conn| {
            let read = read_shared_account(conn, &read_org, &account, now, |conn, row| {
                let id = row.id();
                Ok(UserData {
                    account: row.clone(),
                    responses: ResponseRow::list_for_account(conn, &id)?,
                    registrations: RegistrationRow::list_with_values(conn, &id)?,
                    progress: ProgressRow::list_for_account(conn, &id)?,
                })
            })?;
            let pseudonym = match &read {
                SharedRead::NotFound => return Ok(None),
                SharedRead::Shared(d) => d.account.pseudonym.clone(),
                SharedRead::NotShared(_) => {
                    org_account(conn, &read_org, &account)?.and_then(|a| a.pseudonym)
                }
            };
            // Normen: log every opening, shared or not.
            StaffViewRow::insert(conn, &read_org, &staff_id, &account, now)?;
            let sharing = ConsentRow::state(conn, &account, now)?;
            Ok(Some((read, pseudonym, sharing)))
        })
        .await?;
    let Some((read, pseudonym, sharing)) = result else {
        return Err(AppError::NotFound);
    };
    tracing::info!(staff = %staff.id(), "user page opened");
    let pseudonym = pseudonym
        .as_deref()
        .and_then(|p| masked_pseudonym(&state.seal, &org, p))
        .unwrap_or_else(|| "–".to_owned());
    let shared = match read {
        SharedRead::Shared(d) => {
            let sharing_until = match sharing {
                SharingState::Sharing { lapses_at, .. } => fmt_date(lapses_at),
                _ => String::new(),
            };
            let program = state
                .content
                .program(d.account.program_slug.as_deref().unwrap_or_default());
            let progress = d
                .progress
                .iter()
                .map(|p| ProgressLine {
                    step: program
                        .and_then(|prog| prog.step(&p.step_id))
                        .map(|(m, s)| {
                            format!("{} – {}", m.title.get(ctx.lang), s.title.get(ctx.lang))
                        })
                        .unwrap_or_else(|| p.step_id.clone()),
                    seen: fmt_date(p.first_seen_at()),
                    completed: p.completed_at().map(fmt_date),
                })
                .collect();
            let registrations = d
                .registrations
                .iter()
                .map(|(r, entry)| {
                    let form = state.content.registration(&r.registration_id);
                    RegistrationLine {
                        date: fmt_date_time(r.created_at()),
                        form: form
                            .map(|f| f.title.get(ctx.lang).to_owned())
                            .unwrap_or_else(|| r.registration_id.clone()),
                        values: registration_values(form, entry, ctx.lang),
                    }
                })
                .collect();
            let item9_flag = d.responses.iter().any(|r| !r.flags().is_empty());
            Some(SharedView {
                program: program_title(&state, &ctx, d.account.program_slug.as_deref()),
                last_login: d
                    .account
                    .last_login_at()
                    .map(fmt_date_time)
                    .unwrap_or_else(|| "–".to_owned()),
                sharing_until,
                progress,
                series: build_series(&state, &ctx, &d.responses),
                item9_flag,
                registrations,
            })
        }
        _ => None,
    };
    let page = UserPage {
        ctx,
        pseudonym,
        shared,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}

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
            deleted: fmt_date(r.deleted_at()),
        })
        .collect();
    Ok(html_status(
        StatusCode::OK,
        DeletionsPage { ctx, lines }.render()?,
    ))
}

/// One staff member in the superuser's list.
pub struct StaffLine {
    id: String,
    name: String,
    role: String,
    status: String,
    can_deactivate: bool,
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
            id: p.id.clone(),
            name: p.name.clone(),
            role: match p.role() {
                StaffRole::Clinician => ctx.t("dashboard.role_clinician"),
                StaffRole::Superuser => ctx.t("dashboard.role_superuser"),
            }
            .to_owned(),
            status: if let Some(at) = p.deactivated_at() {
                ctx.tr
                    .fill("dashboard.staff_deactivated_on", &[("date", &fmt_date(at))])
            } else if p.activated_at().is_some() {
                ctx.t("dashboard.staff_active").to_owned()
            } else {
                ctx.t("dashboard.staff_invited").to_owned()
            },
            can_deactivate: p.deactivated_at().is_none() && p.id() != me,
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
        &staff.org(),
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
        Err(InviteError::NoOrg) => return Err(AppError::NotFound),
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
