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
use mestring_store::staff::{
    CodeBatchRow, org_account, org_accounts_by_ids, org_accounts_count, org_accounts_page,
};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use super::clinical::{Clinical, modules_text, summarise, trajectory_text};
use crate::codes::{MAX_PER_SHEET, masked_pseudonym, open_pseudonym};
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};
use mestring_domain::content::Direction;
use mestring_domain::id::Id;
use mestring_domain::policy::clinician::{ITEM9_FLAG, OVERVIEW_QUESTIONNAIRES, RECENT_DAYS};
use mestring_domain::scoring::deterioration_bound;
use mestring_store::consent::read_shared_org;
use mestring_store::overview::{
    Answers, NarrowedOrder, Narrowing, Worsening, narrowed_page_for_org,
};

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
    /// The clinical columns, only while sharing.
    clinical: Option<ClinicalCells>,
}

/// The clinical columns of one sharing user's row, as text.
pub struct ClinicalCells {
    /// One per overview questionnaire: `None` when not answered.
    measures: Vec<Option<String>>,
    /// PHQ-9 item 9 above 0 in the latest answer.
    item9: bool,
    /// "2 of 6".
    modules: String,
    /// Registrations in the last 14 days.
    recent: usize,
}

/// One option of the filter or sort menu.
pub struct MenuOption {
    value: &'static str,
    label: String,
    selected: bool,
}

/// Which sharing users the overview lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// Every code (the default).
    All,
    /// Sharing users whose latest PHQ-9 had item 9 above 0.
    Item9,
    /// Sharing users with a reliable deterioration since their first answer.
    Deteriorated,
    /// Sharing users with no activity in the recent period.
    Inactive,
    /// Every sharing user.
    Sharing,
}

impl Filter {
    const ALL: [(Self, &'static str, &'static str); 5] = [
        (Self::All, "", "dashboard.filter_all"),
        (Self::Sharing, "sharing", "dashboard.filter_sharing"),
        (Self::Item9, "item9", "dashboard.filter_item9"),
        (
            Self::Deteriorated,
            "deteriorated",
            "dashboard.filter_deteriorated",
        ),
        (Self::Inactive, "inactive", "dashboard.filter_inactive"),
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, v, _)| *v == s)
            .map(|(f, _, _)| *f)
    }
}

/// The overview's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    /// Newest code first (the default).
    Newest,
    /// Highest latest PHQ-9 first.
    Phq9,
    /// Highest latest GAD-7 first.
    Gad7,
    /// Longest without activity first.
    Inactive,
}

impl Sort {
    const ALL: [(Self, &'static str, &'static str); 4] = [
        (Self::Newest, "", "dashboard.sort_newest"),
        (Self::Phq9, "phq9", "dashboard.sort_phq9"),
        (Self::Gad7, "gad7", "dashboard.sort_gad7"),
        (Self::Inactive, "inactive", "dashboard.sort_inactive"),
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, v, _)| *v == s)
            .map(|(f, _, _)| *f)
    }
}

fn menu<T: Copy + PartialEq>(
    ctx: &Ctx,
    options: &[(T, &'static str, &'static str)],
    chosen: T,
) -> Vec<MenuOption> {
    options
        .iter()
        .map(|(v, value, key)| MenuOption {
            value,
            label: ctx.t(key).to_owned(),
            selected: *v == chosen,
        })
        .collect()
}

fn cells(ctx: &Ctx, c: &Clinical) -> ClinicalCells {
    ClinicalCells {
        measures: mestring_domain::policy::clinician::OVERVIEW_QUESTIONNAIRES
            .iter()
            .map(|id| {
                c.measure(id).map(|m| {
                    format!(
                        "{} ({}); {}",
                        m.total,
                        m.band,
                        trajectory_text(ctx, m.trajectory)
                    )
                })
            })
            .collect(),
        item9: c.item9,
        modules: modules_text(ctx, c.modules),
        recent: c.recent_registrations,
    }
}

/// The clinical summaries of those of `ids` that share with `org` now,
/// keyed by account id (read through the consent gate).
async fn summaries(
    state: &AppState,
    ctx: &Ctx,
    org: &Id,
    ids: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<std::collections::HashMap<Id, Clinical>, AppError> {
    let org = org.clone();
    let since = now - chrono::Duration::days(RECENT_DAYS);
    let rows = state
        .store
        .run(move |conn| {
            mestring_store::consent::read_shared_accounts(conn, &org, &ids, now, |conn, shared| {
                mestring_store::overview::summary_rows(conn, shared, since, Answers::Summaries)
            })
        })
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.account.id.clone(), summarise(state, ctx.lang, r)))
        .collect())
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
    filters: Vec<MenuOption>,
    sorts: Vec<MenuOption>,
    /// Column headings of the overview questionnaires (`PHQ-9`, `GAD-7`).
    measure_names: Vec<String>,
    /// The filter and sort as a query-string suffix for page links.
    view_query: String,
    /// Whether a filter narrows the list (to sharing users).
    narrowed: bool,
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
    #[serde(default)]
    filter: String,
    #[serde(default)]
    sort: String,
}

fn status_text(ctx: &Ctx, account: &AccountRow, state: &SharingState) -> (String, bool) {
    if let Some(at) = account.deactivated_at {
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
        SharingState::NeverAsked if account.last_login_at.is_some() => {
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
    let filter = Filter::parse(q.filter.trim()).unwrap_or(Filter::All);
    let sort = Sort::parse(q.sort.trim()).unwrap_or(Sort::Newest);
    // A filter or an order by clinical measures: the database chooses,
    // orders, pages and counts among every sharing user of the
    // organisation.
    let narrowed = !searched && (filter != Filter::All || sort != Sort::Newest);
    // The overview questionnaires this installation's content has (the
    // clinical summary skips the others), and when each one's change
    // counts as a deterioration.
    let measured: Vec<&'static str> = OVERVIEW_QUESTIONNAIRES
        .into_iter()
        .filter(|id| state.content.questionnaire(id).is_some())
        .collect();
    let bounds: Vec<Worsening<'static>> = OVERVIEW_QUESTIONNAIRES
        .into_iter()
        .filter_map(|id| {
            let q = state.content.questionnaire(id)?;
            Some(Worsening {
                questionnaire: id,
                higher_is_worse: q.scoring.direction == Direction::HigherIsWorse,
                bound: i64::from(deterioration_bound(q)),
            })
        })
        .collect();
    let load_org = org.clone();
    // The list is every existing account, newest first, followed by the
    // codes whose users deleted everything (deletion records, newest
    // first), paginated as one sequence.
    let (rows, deleted_rows, total, deleted) = state
        .store
        .run(move |conn| {
            let deleted = DeletionRecordRow::count_for_org(conn, &load_org)?;
            let (accounts, deleted_rows, total) = if narrowed {
                let narrowing = match filter {
                    Filter::All | Filter::Sharing => Narrowing::Sharing,
                    Filter::Item9 => Narrowing::Flagged {
                        questionnaires: &measured,
                        flag: ITEM9_FLAG,
                    },
                    Filter::Deteriorated => Narrowing::Deteriorated(&bounds),
                    // Judged on the login and the latest answer: a session
                    // lasts at most 12 hours, so it is off by under a day.
                    Filter::Inactive => {
                        Narrowing::InactiveSince(now - chrono::Duration::days(RECENT_DAYS))
                    }
                };
                let order = match sort {
                    Sort::Newest => NarrowedOrder::Newest,
                    Sort::Phq9 | Sort::Gad7 => {
                        let q = if sort == Sort::Phq9 { "phq9" } else { "gad7" };
                        // Without the questionnaire nobody has its total.
                        if measured.contains(&q) {
                            NarrowedOrder::LatestTotal(q)
                        } else {
                            NarrowedOrder::Newest
                        }
                    }
                    Sort::Inactive => NarrowedOrder::LeastRecentActivity,
                };
                // Saturating: a page far past the end shows an empty page.
                let offset = (page - 1).saturating_mul(PAGE_SIZE);
                let (ids, n) = read_shared_org(conn, &load_org, now, |conn, shared| {
                    narrowed_page_for_org(conn, shared, narrowing, order, PAGE_SIZE, offset)
                })?;
                let ids: Vec<String> = ids.into_iter().map(Id::into_string).collect();
                (org_accounts_by_ids(conn, &load_org, &ids)?, Vec::new(), n)
            } else if searched {
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
            let ids: Vec<String> = accounts.iter().map(|a| a.id.as_str().to_owned()).collect();
            let histories = ConsentRow::histories(conn, &ids)?;
            let out = accounts
                .into_iter()
                .map(|a| {
                    let history = histories.get(a.id.as_str()).map_or(&[][..], Vec::as_slice);
                    let state = sharing_state(history, now);
                    (a, state)
                })
                .collect::<Vec<_>>();
            Ok((out, deleted_rows, total, deleted))
        })
        .await?;
    // Everything about the rows shown (at most a page of them).
    let ids: Vec<String> = rows
        .iter()
        .filter(|(_, s)| s.is_sharing())
        .map(|(a, _)| a.id.as_str().to_owned())
        .collect();
    let clinical = if ids.is_empty() {
        std::collections::HashMap::new()
    } else {
        summaries(&state, &ctx, &org, ids, now).await?
    };
    let deleted_line = |pseudonym: String, r: &DeletionRecordRow| CodeLine {
        account_id: String::new(),
        pseudonym,
        program: "–".to_owned(),
        issued: "–".to_owned(),
        status: ctx.tr.fill(
            "dashboard.status_deleted",
            &[("date", &fmt_date(r.deleted_at))],
        ),
        last_activity: None,
        sharing: false,
        clinical: None,
    };
    let mut lines: Vec<CodeLine> = rows
        .iter()
        .map(|(a, sharing)| {
            let (status, is_sharing) = status_text(&ctx, a, sharing);
            CodeLine {
                account_id: a.id.to_string(),
                pseudonym: a
                    .pseudonym
                    .as_deref()
                    .and_then(|p| masked_pseudonym(&state.seal, &org, p))
                    .unwrap_or_else(|| "–".to_owned()),
                program: program_title(&state, &ctx, a.program_slug.as_deref()),
                issued: fmt_date(a.created_at),
                status,
                last_activity: if is_sharing {
                    clinical
                        .get(&a.id)
                        .and_then(|c| c.last_activity)
                        .or(a.last_login_at)
                        .map(fmt_date_time)
                } else {
                    None
                },
                clinical: if is_sharing {
                    clinical.get(&a.id).map(|c| cells(&ctx, c))
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
    let filter_value = Filter::ALL
        .iter()
        .find(|(f, _, _)| *f == filter)
        .map_or("", |(_, v, _)| v);
    let sort_value = Sort::ALL
        .iter()
        .find(|(s, _, _)| *s == sort)
        .map_or("", |(_, v, _)| v);
    let view_query = format!("&filter={filter_value}&sort={sort_value}");
    let page = HomePage {
        filters: menu(&ctx, &Filter::ALL, filter),
        measure_names: mestring_domain::policy::clinician::OVERVIEW_QUESTIONNAIRES
            .iter()
            .map(|id| {
                state
                    .content
                    .questionnaire(id)
                    .map_or_else(|| (*id).to_owned(), |q| q.short_name.clone())
            })
            .collect(),
        sorts: menu(&ctx, &Sort::ALL, sort),
        view_query,
        narrowed: filter != Filter::All,
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
