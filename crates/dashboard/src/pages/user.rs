//! `GET /dashboard/users/{id}`: a user's data, only while sharing is
//! active, read through the single consent-checking store function.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::consent::SharingState;
use mestring_domain::id::Id;
use mestring_domain::scoring::{ChangeClass, classify_change};
use mestring_store::accounts::AccountRow;
use mestring_store::consent::{ConsentRow, SharedRead, read_shared_account};
use mestring_store::progress::ProgressRow;
use mestring_store::registrations::RegistrationRow;
use mestring_store::responses::ResponseRow;
use mestring_store::staff::org_account;
use mestring_store::staff_views::StaffViewRow;
use mestring_web::{AppError, AppState, Ctx};

use super::overview::program_title;
use crate::codes::masked_pseudonym;
use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};
use mestring_web::chart::{Chart, Point};

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
    /// Answers the user voided: shown as voided, with dates only.
    voided: Vec<ResponseRow>,
    registrations: Vec<(RegistrationRow, mestring_domain::content::Entry)>,
    progress: Vec<ProgressRow>,
}

#[derive(Template)]
#[template(path = "dashboard/user.html")]
struct UserPage {
    ctx: Ctx,
    account_id: String,
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
    /// "PHQ-9: answered 01.12.2026, voided 03.12.2026".
    voided: Vec<String>,
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
        rows.sort_by_key(|r| r.completed_at);
        let q = state.content.questionnaire(id);
        let max = q
            .and_then(|q| q.bands.iter().map(|b| b.max).max())
            .unwrap_or(1)
            .max(1);
        let n = rows.len();
        let points: Vec<Point> = rows
            .iter()
            .map(|r| Point {
                label: mestring_web::fmt::short_date(r.completed_at),
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
                date: fmt_date(r.completed_at),
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
    let account_str = account.to_string();
    let org = staff.org();
    let staff_id = staff.id();
    let now = state.clock.now();
    let read_org = org.clone();
    let keks = state.keks.clone();
    // Not wrapped in a transaction of our own: `read_shared_account` opens
    // one (the consent check and the read), and SQLite cannot nest them.
    let result = state
        .store
        .run(move |conn| {
            let read = read_shared_account(conn, &read_org, &account, now, |conn, row| {
                let id = row.id.clone();
                Ok(UserData {
                    account: row.clone(),
                    responses: ResponseRow::list_for_account(conn, &id)?,
                    voided: ResponseRow::list_voided(conn, &id)?,
                    registrations: RegistrationRow::list_with_values(conn, &keks, &id)?,
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
                    seen: fmt_date(p.first_seen_at),
                    completed: p.completed_at.map(fmt_date),
                })
                .collect();
            let registrations = d
                .registrations
                .iter()
                .map(|(r, entry)| {
                    let form = state.content.registration(&r.registration_id);
                    RegistrationLine {
                        date: fmt_date_time(r.created_at),
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
                    .last_login_at
                    .map(fmt_date_time)
                    .unwrap_or_else(|| "–".to_owned()),
                sharing_until,
                progress,
                series: build_series(&state, &ctx, &d.responses),
                item9_flag,
                registrations,
                voided: d
                    .voided
                    .iter()
                    .map(|r| {
                        let name = state
                            .content
                            .questionnaire(&r.questionnaire_id)
                            .map_or(r.questionnaire_id.as_str(), |q| q.short_name.as_str());
                        ctx.tr.fill(
                            "dashboard.voided_line",
                            &[
                                ("name", name),
                                ("answered", &fmt_date(r.completed_at)),
                                ("voided", &r.voided_at.map(fmt_date).unwrap_or_default()),
                            ],
                        )
                    })
                    .collect(),
            })
        }
        _ => None,
    };
    let page = UserPage {
        ctx,
        account_id: account_str,
        pseudonym,
        shared,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}
