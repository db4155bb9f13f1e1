//! Group data: the organisation's aggregates (`/dashboard/aggregates`) and a
//! tool manager's channel view (`/dashboard/channel`), each also as CSV.
//!
//! Every request loads the whole channel (grouped counts, see
//! `mestring_store::aggregates`) and protects every table of it at once with
//! `mestring_domain::suppression`, so an organisation's view and the
//! channel's view are always the same publication: subtracting one from the
//! other reveals nothing the audit has not checked. Only fixed periods
//! (whole Oslo calendar months) and fixed categories are offered.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_content::Catalog;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::periods::{Month, last_months};
use mestring_domain::policy;
use mestring_domain::scoring::{ChangeClass, classify_change, in_caseness};
use mestring_domain::suppression::{
    Cell, Family, OrgCounts, Protected, Scope, Threshold, protect_without_empty,
};
use mestring_store::aggregates::{self as counts_store, ChannelCounts, CountRow, DeletionDay};
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_web::chart::escape;
use mestring_web::page::Ctx;
use mestring_web::{AppError, AppState};

use crate::html_status;
use crate::session::{Staff, ToolManager};

/// Deletion records shown to a tool manager (newest first).
const DELETION_DAYS_SHOWN: i64 = 500;

/// One measure: its labels and its counts over the channel.
struct Measure {
    /// Stable id, used in the CSV and as the HTML id.
    id: String,
    title: String,
    /// (stable key, label) per row and column.
    rows: Vec<(String, String)>,
    cols: Vec<(String, String)>,
    family: Family,
    /// Whether cells also show their share of the row total.
    shares: bool,
}

/// The channel's measures, each protected as a whole.
struct Report {
    orgs: Vec<OrganisationRow>,
    channel: ChannelRow,
    measures: Vec<(Measure, Protected)>,
    k: u32,
    /// When the counts were computed.
    computed_at: chrono::DateTime<chrono::Utc>,
}

fn org_index(orgs: &[OrganisationRow]) -> HashMap<&str, usize> {
    orgs.iter()
        .enumerate()
        .map(|(i, o)| (o.id.as_str(), i))
        .collect()
}

/// Builds one family from count rows: `rows`/`cols` are stable keys; rows
/// whose key or month is not among them are not counted (e.g. a removed
/// program), which only ever makes a table smaller, never a cell finer.
fn family_of(
    data: &[CountRow],
    orgs: &[OrganisationRow],
    users: &[u64],
    rows: &[(String, String)],
    cols: &[(String, String)],
    additive: bool,
) -> Family {
    let index = org_index(orgs);
    let mut cells = vec![vec![vec![0u64; cols.len()]; rows.len()]; orgs.len()];
    for d in data {
        let (Some(&o), Some(r), Some(c)) = (
            index.get(d.org.as_str()),
            rows.iter().position(|(k, _)| *k == d.key),
            cols.iter().position(|(k, _)| *k == d.month),
        ) else {
            continue;
        };
        cells[o][r][c] += u64::try_from(d.n).unwrap_or(0);
    }
    Family {
        rows: rows.len(),
        cols: cols.len(),
        additive,
        channel_users: users.iter().sum(),
        orgs: cells
            .into_iter()
            .zip(users)
            .map(|(cells, &users)| OrgCounts { cells, users })
            .collect(),
    }
}

fn one_col(label: &str) -> Vec<(String, String)> {
    vec![(String::new(), label.to_owned())]
}

/// Everything the tables are made of, in the page's language.
fn measures(
    ctx: &Ctx,
    content: &Catalog,
    orgs: &[OrganisationRow],
    months: &[Month],
    c: &ChannelCounts,
) -> Vec<Measure> {
    let lang = ctx.lang;
    let t = |k: &str| ctx.t(k).to_owned();
    let index = org_index(orgs);
    let mut users = vec![0u64; orgs.len()];
    for u in &c.users {
        if let Some(&o) = index.get(u.org.as_str()) {
            users[o] += u64::try_from(u.n).unwrap_or(0);
        }
    }
    let month_cols: Vec<(String, String)> = months
        .iter()
        .map(|m| (m.label.clone(), m.label.clone()))
        .collect();
    let mut programs: Vec<(String, String)> = content
        .programs()
        .map(|p| (p.slug.as_str().to_owned(), p.title.get(lang).to_owned()))
        .collect();
    let completed_rows = programs.clone();
    programs.push((String::new(), t("aggregates.no_program")));
    let modules: Vec<(String, String)> = content
        .programs()
        .flat_map(|p| {
            p.modules.iter().filter_map(move |m| {
                m.steps.last().map(|s| {
                    (
                        format!("{}/{}", p.slug.as_str(), s.id.as_str()),
                        format!("{} – {}", p.title.get(lang), m.title.get(lang)),
                    )
                })
            })
        })
        .collect();
    let forms: Vec<(String, String)> = content
        .registrations()
        .map(|r| (r.id.as_str().to_owned(), r.title.get(lang).to_owned()))
        .collect();
    let mut out = vec![
        Measure {
            id: "users".into(),
            shares: false,
            title: t("aggregates.t_users"),
            rows: vec![(String::new(), t("aggregates.row_users"))],
            cols: one_col(ctx.t("aggregates.all")),
            family: family_of(
                &c.users,
                orgs,
                &users,
                &[(String::new(), String::new())],
                &one_col(""),
                true,
            ),
        },
        Measure {
            id: "started".into(),
            shares: false,
            title: t("aggregates.t_started"),
            family: family_of(&c.started, orgs, &users, &programs, &month_cols, true),
            rows: programs.clone(),
            cols: month_cols.clone(),
        },
        Measure {
            id: "active".into(),
            shares: false,
            title: t("aggregates.t_active"),
            family: family_of(&c.active, orgs, &users, &programs, &month_cols, false),
            rows: programs.clone(),
            cols: month_cols.clone(),
        },
        Measure {
            id: "completed".into(),
            shares: false,
            title: t("aggregates.t_completed"),
            family: family_of(
                &c.completed,
                orgs,
                &users,
                &completed_rows,
                &month_cols,
                true,
            ),
            rows: completed_rows,
            cols: month_cols.clone(),
        },
        Measure {
            id: "modules".into(),
            shares: false,
            title: t("aggregates.t_modules"),
            family: family_of(&c.modules, orgs, &users, &modules, &one_col(""), false),
            rows: modules,
            cols: one_col(ctx.t("aggregates.completed")),
        },
    ];
    out.extend(measure_tables(ctx, content, orgs, &users, c));
    out.push(Measure {
        id: "registrations".into(),
        shares: false,
        title: t("aggregates.t_registrations"),
        family: family_of(&c.registrations, orgs, &users, &forms, &month_cols, false),
        rows: forms,
        cols: month_cols.clone(),
    });
    let kinds: Vec<(String, String)> = ["suggest", "evaluation"]
        .iter()
        .map(|k| ((*k).to_owned(), t(&format!("aggregates.feedback_{k}"))))
        .collect();
    out.push(Measure {
        id: "feedback".into(),
        shares: false,
        title: t("aggregates.t_feedback"),
        family: family_of(&c.feedback, orgs, &users, &kinds, &month_cols, false),
        rows: kinds,
        cols: month_cols.clone(),
    });
    let sharing: Vec<(String, String)> = ["given", "withdrawn", "lapsed"]
        .iter()
        .map(|k| ((*k).to_owned(), t(&format!("aggregates.share_{k}"))))
        .collect();
    out.push(Measure {
        id: "sharing".into(),
        shares: false,
        title: t("aggregates.t_sharing"),
        family: family_of(&c.sharing, orgs, &users, &sharing, &month_cols, false),
        rows: sharing,
        cols: month_cols.clone(),
    });
    let deleted = vec![("deleted".to_owned(), t("aggregates.row_deleted"))];
    out.push(Measure {
        id: "deletions".into(),
        shares: false,
        title: t("aggregates.t_deletions"),
        family: family_of(&c.deletions, orgs, &users, &deleted, &month_cols, true),
        rows: deleted,
        cols: month_cols,
    });
    out
}

/// PHQ-9 and GAD-7: first × latest band, change class and recovery. The
/// score rows are turned into count rows keyed like the other measures.
fn measure_tables(
    ctx: &Ctx,
    content: &Catalog,
    orgs: &[OrganisationRow],
    users: &[u64],
    c: &ChannelCounts,
) -> Vec<Measure> {
    let lang = ctx.lang;
    let mut out = Vec::new();
    let mut change = Vec::new();
    let mut recovery = Vec::new();
    let mut q_rows = Vec::new();
    for qid in policy::clinician::OVERVIEW_QUESTIONNAIRES {
        let Some(q) = content.questionnaire(qid) else {
            continue;
        };
        q_rows.push((qid.to_owned(), q.short_name.clone()));
        let bands: Vec<(String, String)> = q
            .bands
            .iter()
            .map(|b| (b.id.as_str().to_owned(), b.label.get(lang).to_owned()))
            .collect();
        let mut first_latest = Vec::new();
        for m in c.measures.iter().filter(|m| m.questionnaire == qid) {
            let (Ok(first), Ok(latest)) =
                (u32::try_from(m.first_total), u32::try_from(m.latest_total))
            else {
                continue;
            };
            let band = |total| q.band_for_total(total).map(|b| b.id.as_str().to_owned());
            if let (Some(bf), Some(bl)) = (band(first), band(latest)) {
                first_latest.push(CountRow {
                    org: m.org.clone(),
                    key: bf,
                    month: bl,
                    n: m.n,
                });
            }
            if m.repeated == 1 {
                let class = match classify_change(q, first, latest) {
                    ChangeClass::ReliableImprovement => "improved",
                    ChangeClass::NoReliableChange => "unchanged",
                    ChangeClass::ReliableDeterioration => "deteriorated",
                };
                change.push(CountRow {
                    org: m.org.clone(),
                    key: qid.to_owned(),
                    month: class.to_owned(),
                    n: m.n,
                });
                if q.scoring.caseness.is_some() && in_caseness(q, first) {
                    let outcome = if in_caseness(q, latest) {
                        "not_recovered"
                    } else {
                        "recovered"
                    };
                    recovery.push(CountRow {
                        org: m.org.clone(),
                        key: qid.to_owned(),
                        month: outcome.to_owned(),
                        n: m.n,
                    });
                }
            }
        }
        out.push(Measure {
            id: format!("{qid}-bands"),
            shares: false,
            title: ctx.tr.fill("aggregates.t_bands", &[("q", &q.short_name)]),
            family: family_of(&first_latest, orgs, users, &bands, &bands, true),
            rows: bands.clone(),
            cols: bands,
        });
    }
    let classes: Vec<(String, String)> = ["improved", "unchanged", "deteriorated"]
        .iter()
        .map(|k| {
            (
                (*k).to_owned(),
                ctx.t(&format!("aggregates.{k}")).to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = q_rows.iter().map(|(_, n)| n.as_str()).collect();
    out.push(Measure {
        id: "change".into(),
        shares: true,
        title: ctx.tr.fill(
            "aggregates.t_change",
            &[
                ("q", names.first().copied().unwrap_or("")),
                ("q2", names.get(1).copied().unwrap_or("")),
            ],
        ),
        family: family_of(&change, orgs, users, &q_rows, &classes, true),
        rows: q_rows.clone(),
        cols: classes,
    });
    let outcomes: Vec<(String, String)> = ["recovered", "not_recovered"]
        .iter()
        .map(|k| {
            (
                (*k).to_owned(),
                ctx.t(&format!("aggregates.{k}")).to_owned(),
            )
        })
        .collect();
    out.push(Measure {
        id: "recovery".into(),
        shares: true,
        title: ctx.t("aggregates.t_recovery").to_owned(),
        family: family_of(&recovery, orgs, users, &q_rows, &outcomes, true),
        rows: q_rows,
        cols: outcomes,
    });
    out
}

/// `program/step` keys of each program's last step, and of each module's.
fn step_ends(content: &Catalog) -> (Vec<String>, Vec<String>) {
    let ends = |modules_only: bool| -> Vec<String> {
        content
            .programs()
            .flat_map(|p| {
                let mods: Vec<_> = if modules_only {
                    p.modules.iter().collect()
                } else {
                    p.modules.last().into_iter().collect()
                };
                mods.into_iter()
                    .filter_map(|m| m.steps.last())
                    .map(|s| format!("{}/{}", p.slug.as_str(), s.id.as_str()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    (ends(false), ends(true))
}

/// Recomputes stored counts older than half their allowed age (the hourly
/// maintenance), so pages keep reading counts instead of computing them.
/// A channel nobody has looked at has no stored counts and is skipped.
/// Returns how many channels were refreshed.
pub async fn refresh_snapshots(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let months = last_months(now, policy::aggregates::MONTHS_SHOWN);
    let (program_ends, module_ends) = step_ends(&state.content);
    let max_age = state.config.aggregates_max_age;
    Ok(state
        .store
        .run(move |conn| {
            let channels = counts_store::stale_channels(conn, now - max_age / 2)?;
            for channel in &channels {
                counts_store::refresh(conn, channel, &months, &program_ends, &module_ends, now)?;
            }
            Ok(channels.len())
        })
        .await?)
}

/// How many protected families [`protected`] remembers (15 measures per
/// channel; a few channels).
const PROTECTED_REMEMBERED: usize = 256;

/// [`protect_without_empty`], remembered by family and k. Every view of a
/// group-data page protects the same families until the hourly refresh
/// changes the counts, and protection is a deterministic function of them,
/// so a remembered result is the result. Keyed by the whole family (no
/// hash standing in for it), so two families never share an entry. When
/// full, the memory starts afresh.
fn protected(family: &Family, k: Threshold) -> Protected {
    static MEMORY: OnceLock<Mutex<HashMap<(Family, Threshold), Protected>>> = OnceLock::new();
    let memory = MEMORY.get_or_init(Default::default);
    let key = (family.clone(), k);
    // A poisoned lock only means another view panicked mid-insert; the
    // map itself is still a valid cache of pure results.
    if let Some(p) = memory
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return p.clone();
    }
    let p = protect_without_empty(family, k);
    let mut memory = memory.lock().unwrap_or_else(PoisonError::into_inner);
    if memory.len() >= PROTECTED_REMEMBERED {
        memory.clear();
    }
    memory.insert(key, p.clone());
    p
}

async fn report(state: &AppState, ctx: &Ctx, channel: ChannelSlug) -> Result<Report, AppError> {
    let now = state.clock.now();
    let months = last_months(now, policy::aggregates::MONTHS_SHOWN);
    let (program_ends, module_ends) = step_ends(&state.content);
    let load_months = months.clone();
    let max_age = state.config.aggregates_max_age;
    let (channel_row, orgs, snapshot) = state
        .store
        .run(move |conn| {
            let channel_row =
                ChannelRow::find(conn, &channel)?.ok_or(mestring_store::StoreError::NotFound)?;
            let orgs = OrganisationRow::list_in_channel(conn, &channel)?;
            let snapshot = counts_store::cached(
                conn,
                &channel,
                &load_months,
                &program_ends,
                &module_ends,
                now,
                max_age,
            )?;
            Ok((channel_row, orgs, snapshot))
        })
        .await?;
    let counts = snapshot.counts;
    let k = state.config.aggregates_k;
    let measures = measures(ctx, &state.content, &orgs, &months, &counts)
        .into_iter()
        .map(|m| {
            let p = protected(&m.family, k);
            (m, p)
        })
        .collect();
    Ok(Report {
        orgs,
        channel: channel_row,
        measures,
        k: k.get(),
        computed_at: snapshot.computed_at,
    })
}

/// One table as the template shows it.
struct TableView {
    id: String,
    title: String,
    /// `None`: too few users; `Some(false)`: refused; `Some(true)`: shown.
    state: TableState,
    cols: Vec<String>,
    rows: Vec<RowView>,
    additive: bool,
    totals: Vec<String>,
    grand: String,
    chart: String,
}

#[derive(PartialEq, Eq)]
enum TableState {
    Shown,
    TooFew,
    Refused,
}

struct RowView {
    label: String,
    cells: Vec<CellView>,
    total: CellView,
}

struct CellView {
    text: String,
    hidden: bool,
}

fn cell_view(ctx: &Ctx, c: Cell) -> CellView {
    match c {
        Cell::Shown(n) => CellView {
            text: n.to_string(),
            hidden: false,
        },
        Cell::Hidden => CellView {
            text: ctx.t("aggregates.hidden").to_owned(),
            hidden: true,
        },
    }
}

fn table_view(ctx: &Ctx, m: &Measure, scope: &Scope, prefix: &str) -> TableView {
    let id = format!("{prefix}{}", m.id);
    let mut view = TableView {
        id: id.clone(),
        title: m.title.clone(),
        state: TableState::TooFew,
        cols: m.cols.iter().map(|(_, l)| l.clone()).collect(),
        rows: Vec::new(),
        additive: m.family.additive,
        totals: Vec::new(),
        grand: String::new(),
        chart: String::new(),
    };
    let t = match scope {
        Scope::TooFewUsers => return view,
        Scope::Refused => {
            view.state = TableState::Refused;
            return view;
        }
        Scope::Table(t) => t,
    };
    view.state = TableState::Shown;
    // Shares of the row total, for the tables whose rows are groups of
    // people (change, recovery): only from two published counts.
    let with_share = |c: Cell, total: Option<&Cell>| {
        let mut v = cell_view(ctx, c);
        if let (true, Cell::Shown(n), Some(Cell::Shown(t))) = (m.shares, c, total)
            && *t > 0
        {
            v.text = format!("{n} ({} %)", (n * 100 + t / 2) / t);
        }
        v
    };
    view.rows = m
        .rows
        .iter()
        .enumerate()
        .map(|(r, (_, label))| RowView {
            label: label.clone(),
            cells: t.cells[r]
                .iter()
                .map(|&c| with_share(c, t.row_totals.get(r)))
                .collect(),
            total: t.row_totals.get(r).map_or(
                CellView {
                    text: String::new(),
                    hidden: false,
                },
                |&c| cell_view(ctx, c),
            ),
        })
        .collect();
    view.totals = t
        .col_totals
        .iter()
        .map(|&c| cell_view(ctx, c).text)
        .collect();
    view.grand = t.total.map(|c| cell_view(ctx, c).text).unwrap_or_default();
    // The chart draws the column totals (or, without margins, the first
    // row); hidden values are not drawn and are named in the labels.
    let bars: Vec<(String, Cell)> = if m.family.additive {
        m.cols
            .iter()
            .map(|(_, l)| l.clone())
            .zip(t.col_totals.iter().copied())
            .collect()
    } else {
        m.cols
            .iter()
            .map(|(_, l)| l.clone())
            .zip(t.cells.first().cloned().unwrap_or_default())
            .collect()
    };
    view.chart = bar_chart(&id, &m.title, &bars, ctx.t("aggregates.hidden"));
    view
}

/// The id of the page's one paragraph that says what every chart shows;
/// each chart's accessible name ends with it.
const CHARTS_NOTE_ID: &str = "charts-d";

/// A bar chart as accessible SVG (no script, no inline style). Its name is
/// its title and the page's note on charts ([`CHARTS_NOTE_ID`]), which the
/// page shows once instead of every chart carrying the same description.
/// Inline in HTML, so no `xmlns`: the HTML parser puts `<svg>` in the SVG
/// namespace.
fn bar_chart(id: &str, title: &str, bars: &[(String, Cell)], hidden: &str) -> String {
    const W: usize = 600;
    const H: usize = 180;
    const BOTTOM: usize = 36;
    let max = bars
        .iter()
        .filter_map(|(_, c)| match c {
            Cell::Shown(n) => Some(*n),
            Cell::Hidden => None,
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let n = bars.len().max(1);
    let slot = W / n;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="bars" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {CHARTS_NOTE_ID}"><title id="{id}-t">{}</title>"##,
        escape(title),
    );
    // Bars, their values and their labels each in one group carrying the
    // shared presentation attributes, so a chart of many months does not
    // repeat them per element (the page's size budget).
    let (mut rects, mut values, mut labels) = (String::new(), String::new(), String::new());
    for (i, (label, cell)) in bars.iter().enumerate() {
        let x = i * slot + slot / 6;
        let w = (slot * 2 / 3).max(1);
        match cell {
            Cell::Shown(v) => {
                let h = usize::try_from(*v).unwrap_or(0) * (H - BOTTOM - 16)
                    / usize::try_from(max).unwrap_or(1).max(1);
                let y = H - BOTTOM - h;
                // A bar of height 0 draws nothing; its value above says 0.
                if h > 0 {
                    let _ = write!(
                        rects,
                        r##"<rect x="{x}" y="{y}" width="{w}" height="{h}"/>"##
                    );
                }
                let _ = write!(
                    values,
                    r##"<text x="{}" y="{}">{v}</text>"##,
                    x + w / 2,
                    y.saturating_sub(3).max(11)
                );
            }
            Cell::Hidden => {
                let _ = write!(
                    values,
                    r##"<text x="{}" y="{}">{}</text>"##,
                    x + w / 2,
                    H - BOTTOM - 4,
                    escape(hidden)
                );
            }
        }
        // The labels share one line: one text element, a span per label.
        let _ = write!(
            labels,
            r##"<tspan x="{}">{}</tspan>"##,
            x + w / 2,
            escape(label.rsplit('-').next().unwrap_or(label))
        );
    }
    let _ = write!(
        svg,
        r##"<g fill="#0b5c55">{rects}</g><g font-size="11" text-anchor="middle" fill="#1b1b1b">{values}</g><text y="{label_y}" font-size="10" text-anchor="middle" fill="#1b1b1b">{labels}</text><line x1="0" y1="{axis}" x2="{W}" y2="{axis}" stroke="#8a877d"/></svg>"##,
        axis = H - BOTTOM,
        label_y = H - BOTTOM + 14
    );
    svg
}

#[derive(Template)]
#[template(path = "dashboard/aggregates.html")]
struct AggregatesPage {
    ctx: Ctx,
    heading: String,
    intro: String,
    as_of: String,
    too_few: Option<String>,
    csv_href: &'static str,
    tables: Vec<TableView>,
    channel_nav: bool,
    per_org: Vec<(String, Vec<String>)>,
    per_org_cols: Vec<String>,
    deletions: Vec<(String, String)>,
}

impl AggregatesPage {
    /// Whether any table has a chart, and so the page its note on charts.
    fn any_chart(&self) -> bool {
        self.tables
            .iter()
            .any(|t| t.state == TableState::Shown && t.cols.len() > 1)
    }

    /// The id of that note.
    fn charts_note_id(&self) -> &'static str {
        CHARTS_NOTE_ID
    }
}

fn as_of(ctx: &Ctx, at: chrono::DateTime<chrono::Utc>) -> String {
    ctx.tr
        .fill("aggregates.as_of", &[("time", &crate::fmt_date_time(at))])
}

fn too_few_text(ctx: &Ctx, k: u32) -> String {
    ctx.tr.fill("aggregates.too_few", &[("k", &k.to_string())])
}

fn intro(ctx: &Ctx, scope: &str, k: u32) -> String {
    ctx.tr.fill(
        "aggregates.intro",
        &[
            ("scope", scope),
            ("k", &k.to_string()),
            ("hidden", ctx.t("aggregates.hidden")),
        ],
    )
}

/// `GET /dashboard/aggregates`: the organisation's own group data
/// (clinicians and superusers).
pub async fn organisation(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let (i, report) = org_report(&state, &staff, &ctx).await?;
    let org_row = &report.orgs[i];
    let tables: Vec<TableView> = report
        .measures
        .iter()
        .map(|(m, p)| table_view(&ctx, m, &p.orgs[i], ""))
        .collect();
    let too_few = tables
        .first()
        .filter(|t| t.state == TableState::TooFew)
        .map(|_| too_few_text(&ctx, report.k));
    let page = AggregatesPage {
        heading: ctx.tr.fill("aggregates.title", &[("org", &org_row.name)]),
        intro: intro(&ctx, &org_row.name, report.k),
        as_of: as_of(&ctx, report.computed_at),
        too_few,
        csv_href: "/dashboard/aggregates.csv",
        tables,
        channel_nav: false,
        per_org: Vec::new(),
        per_org_cols: Vec::new(),
        deletions: Vec::new(),
        ctx,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}

/// The report of the staff member's channel, and where their organisation
/// is in it.
async fn org_report(
    state: &AppState,
    staff: &Staff,
    ctx: &Ctx,
) -> Result<(usize, Report), AppError> {
    let org = staff.org();
    let find = org.clone();
    let channel = state
        .store
        .run(move |conn| Ok(OrganisationRow::find(conn, &find)?.channel()))
        .await?;
    let report = report(state, ctx, channel).await?;
    let i = report
        .orgs
        .iter()
        .position(|o| o.id.as_str() == org.as_str())
        .ok_or(AppError::NotFound)?;
    Ok((i, report))
}

/// `GET /dashboard/aggregates.csv`: the same values as the page.
pub async fn organisation_csv(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let (i, report) = org_report(&state, &staff, &ctx).await?;
    let mut csv = CSV_HEADER.to_owned();
    let scope = format!("organisation:{}", report.orgs[i].id);
    for (m, p) in &report.measures {
        csv_rows(&mut csv, m, &scope, &p.orgs[i]);
    }
    Ok(csv_response(csv, "mestring-gruppedata.csv"))
}

/// `GET /dashboard/channel`: a tool manager's view of the channel: its
/// tables, the per-organisation breakdown and the deletion records.
pub async fn channel(
    state: web::Data<AppState>,
    manager: ToolManager,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let report = report(&state, &ctx, manager.channel.clone()).await?;
    let load = manager.channel.clone();
    let days = state
        .store
        .run(move |conn| counts_store::deletion_days(conn, &load, DELETION_DAYS_SHOWN))
        .await?;
    let tables: Vec<TableView> = report
        .measures
        .iter()
        .map(|(m, p)| table_view(&ctx, m, &p.channel, "ch-"))
        .collect();
    let too_few = tables
        .first()
        .filter(|t| t.state == TableState::TooFew)
        .map(|_| too_few_text(&ctx, report.k));
    // The breakdown shows each organisation's grand total of the additive
    // measures: values the organisation's own view publishes too.
    let breakdown: Vec<&(Measure, Protected)> = report
        .measures
        .iter()
        .filter(|(m, _)| ["users", "started", "completed", "deletions"].contains(&m.id.as_str()))
        .collect();
    let per_org_cols = breakdown.iter().map(|(m, _)| m.title.clone()).collect();
    let per_org = report
        .orgs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let cells = breakdown
                .iter()
                .map(|(_, p)| match &p.orgs[i] {
                    Scope::Table(t) => t
                        .total
                        .map_or_else(String::new, |c| cell_view(&ctx, c).text),
                    Scope::TooFewUsers => too_few_text(&ctx, report.k),
                    Scope::Refused => ctx.t("aggregates.refused").to_owned(),
                })
                .collect();
            (o.name.clone(), cells)
        })
        .collect();
    let names: HashMap<&str, &str> = report
        .orgs
        .iter()
        .map(|o| (o.id.as_str(), o.name.as_str()))
        .collect();
    let deletions = days
        .iter()
        .map(|DeletionDay { org, day }| {
            (
                names.get(org.as_str()).copied().unwrap_or("–").to_owned(),
                day.clone(),
            )
        })
        .collect();
    let page = AggregatesPage {
        heading: ctx.tr.fill(
            "aggregates.channel_title",
            &[("channel", &report.channel.name)],
        ),
        intro: intro(&ctx, &report.channel.name, report.k),
        as_of: as_of(&ctx, report.computed_at),
        too_few,
        csv_href: "/dashboard/channel.csv",
        tables,
        channel_nav: true,
        per_org,
        per_org_cols,
        deletions,
        ctx,
    };
    Ok(html_status(StatusCode::OK, page.render()?))
}

/// `GET /dashboard/channel.csv`: the channel's tables and every
/// organisation's, the same suppressed values as the pages.
pub async fn channel_csv(
    state: web::Data<AppState>,
    manager: ToolManager,
    ctx: Ctx,
) -> Result<HttpResponse, AppError> {
    let report = report(&state, &ctx, manager.channel.clone()).await?;
    let mut csv = CSV_HEADER.to_owned();
    let channel_scope = format!("channel:{}", manager.channel);
    for (m, p) in &report.measures {
        csv_rows(&mut csv, m, &channel_scope, &p.channel);
        for (o, scope) in report.orgs.iter().zip(&p.orgs) {
            csv_rows(&mut csv, m, &format!("organisation:{}", o.id), scope);
        }
    }
    Ok(csv_response(csv, "mestring-kanal-gruppedata.csv"))
}

/// Long format: one line per value. `value` is a number, `suppressed`, or
/// for a whole scope `too-few-users` / `refused`; never an empty cell.
const CSV_HEADER: &str = "measure,scope,row,column,value\r\n";

fn csv_field(s: &str) -> String {
    // Labels come from content; quote them, and keep a spreadsheet from
    // reading a leading = + - @ as a formula.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv_rows(out: &mut String, m: &Measure, scope: &str, published: &Scope) {
    let value = |c: Cell| match c {
        Cell::Shown(n) => n.to_string(),
        Cell::Hidden => "suppressed".to_owned(),
    };
    let key = |k: &(String, String)| {
        if k.0.is_empty() {
            "all".to_owned()
        } else {
            k.0.clone()
        }
    };
    match published {
        Scope::TooFewUsers => {
            let _ = write!(
                out,
                "{},{},all,all,too-few-users\r\n",
                m.id,
                csv_field(scope)
            );
        }
        Scope::Refused => {
            let _ = write!(out, "{},{},all,all,refused\r\n", m.id, csv_field(scope));
        }
        Scope::Table(t) => {
            for (r, row) in m.rows.iter().enumerate() {
                for (c, col) in m.cols.iter().enumerate() {
                    let _ = write!(
                        out,
                        "{},{},{},{},{}\r\n",
                        m.id,
                        csv_field(scope),
                        csv_field(&key(row)),
                        csv_field(&key(col)),
                        value(t.cells[r][c])
                    );
                }
                if let Some(&c) = t.row_totals.get(r) {
                    let _ = write!(
                        out,
                        "{},{},{},total,{}\r\n",
                        m.id,
                        csv_field(scope),
                        csv_field(&key(row)),
                        value(c)
                    );
                }
            }
            for (c, col) in m.cols.iter().enumerate() {
                if let Some(&v) = t.col_totals.get(c) {
                    let _ = write!(
                        out,
                        "{},{},total,{},{}\r\n",
                        m.id,
                        csv_field(scope),
                        csv_field(&key(col)),
                        value(v)
                    );
                }
            }
            if let Some(v) = t.total {
                let _ = write!(
                    out,
                    "{},{},total,total,{}\r\n",
                    m.id,
                    csv_field(scope),
                    value(v)
                );
            }
        }
    }
}

fn csv_response(body: String, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(cells: [[u64; 2]; 2], small: u64) -> Family {
        let orgs = vec![
            OrgCounts {
                cells: cells.iter().map(|r| r.to_vec()).collect(),
                users: cells.iter().flatten().sum(),
            },
            OrgCounts {
                cells: vec![vec![small, 0], vec![0, 0]],
                users: small,
            },
        ];
        Family {
            rows: 2,
            cols: 2,
            additive: true,
            channel_users: orgs.iter().map(|o| o.users).sum(),
            orgs,
        }
    }

    /// The memory answers what protection answers, for families that
    /// differ in one count only (a key by shape or by channel would mix
    /// them up), however often it is asked.
    #[test]
    fn remembered_protection_is_protection() {
        let k = Threshold::default();
        let families = [
            family([[9, 7], [6, 8]], 1),
            family([[9, 7], [6, 8]], 2),
            family([[9, 7], [6, 3]], 1),
        ];
        let fresh: Vec<Protected> = families
            .iter()
            .map(|f| protect_without_empty(f, k))
            .collect();
        assert_ne!(fresh[0], fresh[2], "the families publish differently");
        for _ in 0..2 {
            for (f, p) in families.iter().zip(&fresh) {
                assert_eq!(&protected(f, k), p);
            }
        }
    }
}
