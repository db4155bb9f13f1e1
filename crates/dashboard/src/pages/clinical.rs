//! The clinical summary of one sharing user, as the overview and the
//! printable journal summary show it: latest PHQ-9 and GAD-7 with band and
//! trajectory since the first, the item 9 mark, modules completed and
//! recent registrations. Built from [`SharedSummaryRows`], which only
//! [`mestring_store::consent::read_shared_accounts`] hands out.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mestring_domain::content::{Lang, StepId};
use mestring_domain::policy::clinician::{ITEM9_FLAG, OVERVIEW_QUESTIONNAIRES};
use mestring_domain::scoring::{Trajectory, trajectory};
use mestring_store::overview::SharedSummaryRows;
use mestring_web::{AppState, Ctx};

/// The latest total of one questionnaire.
#[derive(Debug, Clone)]
pub struct Measure {
    /// The questionnaire's id, `phq9`.
    pub id: &'static str,
    /// `PHQ-9`.
    pub name: String,
    /// The latest total.
    pub total: i64,
    /// The band's label.
    pub band: String,
    /// From the first to the latest; `None` with one answer.
    pub trajectory: Option<Trajectory>,
}

/// What the overview shows of one sharing user.
#[derive(Debug, Clone)]
pub struct Clinical {
    /// One per questionnaire in [`OVERVIEW_QUESTIONNAIRES`] answered.
    pub measures: Vec<Measure>,
    /// Whether the latest PHQ-9 had item 9 above 0.
    pub item9: bool,
    /// Modules completed and the program's total (`None` without a
    /// program).
    pub modules: Option<(usize, usize)>,
    /// Registrations in the last
    /// [`RECENT_DAYS`](mestring_domain::policy::clinician::RECENT_DAYS) days.
    pub recent_registrations: usize,
    /// The latest sign of use: login, answer, registration or completed
    /// step.
    pub last_activity: Option<DateTime<Utc>>,
}

impl Clinical {
    /// The measure of questionnaire `id`, if answered.
    pub fn measure(&self, id: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.id == id)
    }
}

/// Summarises one sharing user's rows.
pub fn summarise(state: &AppState, lang: Lang, rows: &SharedSummaryRows) -> Clinical {
    let mut measures = Vec::new();
    let mut item9 = false;
    for id in OVERVIEW_QUESTIONNAIRES {
        let Some(q) = state.content.questionnaire(id) else {
            continue;
        };
        let Some(m) = rows.measures.iter().find(|m| m.questionnaire_id == id) else {
            continue;
        };
        item9 |= m.latest_has_flag(ITEM9_FLAG);
        let total = |t: i64| u32::try_from(t).unwrap_or(0);
        measures.push(Measure {
            id,
            name: q.short_name.clone(),
            total: m.latest_total,
            band: q
                .bands
                .iter()
                .find(|b| b.id.as_str() == m.latest_band)
                .map_or_else(|| m.latest_band.clone(), |b| b.label.get(lang).to_owned()),
            trajectory: trajectory(
                q,
                total(m.first_total),
                total(m.latest_total),
                usize::try_from(m.answers).unwrap_or(0),
            ),
        });
    }
    let modules = rows
        .account
        .program_slug
        .as_deref()
        .and_then(|slug| state.content.program(slug))
        .map(|p| {
            let done: BTreeSet<StepId> = rows
                .completed_steps
                .iter()
                .filter(|(program, _)| program == p.slug.as_str())
                .map(|(_, step)| StepId::new(step.clone()))
                .collect();
            (p.modules_completed(&done), p.modules.len())
        });
    let last_activity = [
        rows.account.last_login_at,
        rows.measures.iter().map(|m| m.latest_at).max(),
        rows.last_registration,
        rows.last_step,
    ]
    .into_iter()
    .flatten()
    .max();
    Clinical {
        measures,
        item9,
        modules,
        recent_registrations: rows.recent_registrations,
        last_activity,
    }
}

/// The trajectory in words.
pub fn trajectory_text(ctx: &Ctx, t: Option<Trajectory>) -> String {
    match t {
        None => ctx.t("dashboard.trajectory_single"),
        Some(Trajectory::Recovered) => ctx.t("dashboard.trajectory_recovered"),
        Some(Trajectory::Improved) => ctx.t("dashboard.change_improved"),
        Some(Trajectory::NoReliableChange) => ctx.t("dashboard.change_none"),
        Some(Trajectory::Deteriorated) => ctx.t("dashboard.change_worse"),
    }
    .to_owned()
}

/// "2 of 6" modules, or a dash without a program.
pub fn modules_text(ctx: &Ctx, modules: Option<(usize, usize)>) -> String {
    modules.map_or_else(
        || "–".to_owned(),
        |(done, all)| {
            ctx.tr.fill(
                "dashboard.modules_of",
                &[("done", &done.to_string()), ("all", &all.to_string())],
            )
        },
    )
}
