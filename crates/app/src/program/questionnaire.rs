//! Questionnaires on one page, their results, and the results over time.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::content::{ItemId, OptionValue, Program, Questionnaire, Step, StepKind};
use mestring_domain::scoring::{self, Answers, ChangeClass, ScoringError};
use mestring_store::account_keys;
use mestring_store::progress::ProgressRow;
use mestring_store::responses::{NewResponse, ResponseRow};
use mestring_web::session::{PendingUserSession, UserSession};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use super::{
    completed_steps, form_value, format_date, format_short_date, html, html_status, see_other,
    step_href, touch_activity, user_program,
};
use mestring_web::chart::{Chart, Point};

/// The flag that puts the crisis resources first on the result page.
pub(crate) const SUICIDAL_IDEATION: &str = "suicidal-ideation";

/// The step a questionnaire is answered for.
#[derive(Debug, Deserialize)]
pub struct StepQuery {
    pub(crate) step: Option<String>,
}

pub(crate) struct OptionView {
    pub value: u32,
    pub input_id: String,
    pub label: String,
    pub checked: bool,
}

pub(crate) struct ItemView {
    pub anchor: String,
    pub name: String,
    pub number: usize,
    pub text: String,
    pub optional: bool,
    pub invalid: bool,
    pub options: Vec<OptionView>,
}

#[derive(Template)]
#[template(path = "program/questionnaire.html")]
struct FormPage {
    ctx: Ctx,
    title: String,
    instructions: String,
    copyright: String,
    action: String,
    step: Option<String>,
    items: Vec<ItemView>,
    answered: usize,
    required: usize,
    progress_text: String,
    /// (anchor, message) per missing or invalid item.
    errors: Vec<(String, String)>,
}

/// Resolves the `step` a questionnaire is answered for: it must be a step
/// of the account's program that asks for this very questionnaire.
/// `Ok(None)` without a step; `Err(redirect)` when the step is locked.
fn resolve_step<'a>(
    program: Option<&'a Program>,
    q: &Questionnaire,
    step: Option<&str>,
) -> Result<Option<(&'a Program, &'a Step)>, AppError> {
    let Some(step) = step.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let program = program.ok_or(AppError::NotFound)?;
    let (_, s) = program.step(step).ok_or(AppError::NotFound)?;
    match &s.kind {
        StepKind::Questionnaire { questionnaire } if *questionnaire == q.id => {
            Ok(Some((program, s)))
        }
        _ => Err(AppError::NotFound),
    }
}

fn render_form(
    ctx: Ctx,
    q: &Questionnaire,
    step: Option<&Step>,
    answers: &Answers,
    invalid: &BTreeSet<ItemId>,
) -> Result<String, AppError> {
    let lang = ctx.lang;
    let mut errors = Vec::new();
    let items: Vec<ItemView> = q
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let anchor = format!("item-{}", item.id);
            let is_invalid = invalid.contains(&item.id);
            if is_invalid {
                errors.push((
                    anchor.clone(),
                    ctx.tr.fill(
                        "questionnaire.missing_item",
                        &[
                            ("number", &(n + 1).to_string()),
                            ("text", item.text.get(lang)),
                        ],
                    ),
                ));
            }
            ItemView {
                options: q
                    .options_for(item)
                    .iter()
                    .map(|o| OptionView {
                        value: o.value.0,
                        input_id: format!("{}-{}", item.id, o.value.0),
                        label: o.label.get(lang).to_owned(),
                        checked: answers.get(&item.id) == Some(&o.value),
                    })
                    .collect(),
                anchor,
                name: item.id.to_string(),
                number: n + 1,
                text: item.text.get(lang).to_owned(),
                optional: !item.scored,
                invalid: is_invalid,
            }
        })
        .collect();
    let required = q.scored_items().count();
    let answered = q
        .scored_items()
        .filter(|i| answers.contains_key(&i.id))
        .count();
    let progress_text = ctx.tr.fill(
        "questionnaire.progress",
        &[
            ("answered", &answered.to_string()),
            ("total", &required.to_string()),
        ],
    );
    let page = FormPage {
        title: q.title.get(lang).to_owned(),
        instructions: q.instructions.get(lang).to_owned(),
        copyright: q.copyright.get(lang).to_owned(),
        action: format!("/app/questionnaires/{}", q.id),
        step: step.map(|s| s.id.to_string()),
        items,
        answered,
        required,
        progress_text,
        errors,
        ctx,
    };
    Ok(page.render()?)
}

/// `GET /app/questionnaires/{id}`: the whole questionnaire on one page.
pub async fn show_form(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    query: web::Query<StepQuery>,
) -> Result<HttpResponse, AppError> {
    let q = state
        .content
        .questionnaire(&path.into_inner())
        .ok_or(AppError::NotFound)?;
    let program = user_program(&state, &user);
    let step = resolve_step(program, q, query.step.as_deref())?;
    if let Some((program, s)) = step {
        let completed = completed_steps(&state, &user, program.slug.as_str()).await?;
        if !program.is_unlocked(s.id.as_str(), &completed) {
            return Ok(see_other(&step_href(&s.id)));
        }
    }
    touch_activity(&state, &user).await;
    let body = render_form(
        ctx,
        q,
        step.map(|(_, s)| s),
        &Answers::new(),
        &BTreeSet::new(),
    )?;
    Ok(html(body))
}

/// `POST /app/questionnaires/{id}`: scores and stores the answers, or
/// shows the form again with every answer kept and the missing ones named.
pub async fn submit_form(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let q = state
        .content
        .questionnaire(&path.into_inner())
        .ok_or(AppError::NotFound)?;
    let pairs = form.into_inner();
    let step_field = form_value(&pairs, "step");
    let program = user_program(&state, &user);
    let step = resolve_step(program, q, step_field)?;
    if let Some((program, s)) = step {
        let completed = completed_steps(&state, &user, program.slug.as_str()).await?;
        if !program.is_unlocked(s.id.as_str(), &completed) {
            return Ok(see_other(&step_href(&s.id)));
        }
    }

    // Each pair on its own, so one bad value marks only its item and the
    // other answers are kept.
    let mut answers = Answers::new();
    let mut invalid = BTreeSet::new();
    for (name, value) in &pairs {
        match scoring::answers_from_form(q, [(name.as_str(), value.as_str())]) {
            Ok(a) => answers.extend(a),
            Err(ScoringError::Malformed(item) | ScoringError::UnknownOption { item, .. }) => {
                invalid.insert(item);
            }
            Err(_) => {}
        }
    }
    let score = match scoring::score(q, &answers) {
        Ok(s) if invalid.is_empty() => s,
        Ok(_) => {
            let body = render_form(ctx, q, step.map(|(_, s)| s), &answers, &invalid)?;
            return Ok(html_status(StatusCode::UNPROCESSABLE_ENTITY, body));
        }
        Err(ScoringError::Incomplete { missing }) => {
            invalid.extend(missing);
            let body = render_form(ctx, q, step.map(|(_, s)| s), &answers, &invalid)?;
            return Ok(html_status(StatusCode::UNPROCESSABLE_ENTITY, body));
        }
        Err(e) => return Err(AppError::internal(format!("scoring failed: {e}"))),
    };

    let stored_answers: Vec<(ItemId, OptionValue, u32)> = answers
        .iter()
        .filter_map(|(id, value)| {
            let item = q.item(id.as_str())?;
            let option = q.option(item, *value)?;
            Some((id.clone(), *value, option.weight))
        })
        .collect();
    let account = user.account_id();
    let q_id = q.id.to_string();
    let version = q.version;
    let step_ids = step.map(|(p, s)| (p.slug.to_string(), s.id.to_string()));
    let now = state.clock.now();
    let keks = state.keks.clone();
    let id = state
        .store
        .transaction(move |conn| {
            let key = account_keys::for_writing(conn, &keks, &account, now)?;
            let id = ResponseRow::insert(
                conn,
                &key,
                &NewResponse {
                    account: &account,
                    questionnaire_id: &q_id,
                    questionnaire_version: version,
                    step: step_ids.as_ref().map(|(p, s)| (p.as_str(), s.as_str())),
                    total: score.total,
                    band_id: score.band.as_str(),
                    flags: &score.flags,
                    prorated: score.prorated,
                    answers: &stored_answers,
                },
                now,
            )?;
            if let Some((p, s)) = &step_ids {
                ProgressRow::mark_completed(conn, &account, p, s, now)?;
            }
            Ok(id)
        })
        .await?;
    Ok(see_other(&format!("/app/results/{id}")))
}

pub(crate) struct ChangeView {
    pub previous_date: String,
    pub previous_total: u32,
    pub difference: String,
    pub class_text: String,
}

#[derive(Template)]
#[template(path = "program/result.html")]
struct ResultPage {
    ctx: Ctx,
    /// The response id (for the void link).
    id: String,
    /// When the user voided this answer, if they did.
    voided: Option<String>,
    /// The flag messages when the crisis box is shown.
    crisis: Option<Vec<String>>,
    title: String,
    date: String,
    total: u32,
    max_total: u32,
    band_label: String,
    prorated: bool,
    change: Option<ChangeView>,
    recovered: bool,
    next: Option<(String, String)>,
}

/// `GET /app/results/{response_id}`: one result. When item 9 of PHQ-9 was
/// answered above 0, the crisis resources come first on the page.
pub async fn show_result(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let account = user.account_id();
    let (row, history) = state
        .store
        .run(move |conn| {
            let row = ResponseRow::find_for_account(conn, &account, &id)?;
            let history =
                ResponseRow::list_for_questionnaire(conn, &account, &row.questionnaire_id)?;
            Ok((row, history))
        })
        .await?;
    let q = state
        .content
        .questionnaire(&row.questionnaire_id)
        .ok_or(AppError::NotFound)?;
    let lang = ctx.lang;
    let total = row.total_u32();
    let crisis = row.has_flag(SUICIDAL_IDEATION).then(|| {
        row.flags()
            .iter()
            .filter_map(|f| q.flag(f.as_str()))
            .map(|f| f.message.get(lang).to_owned())
            .collect()
    });
    let previous = history
        .iter()
        .position(|r| r.id == row.id)
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| history.get(i));
    let change = previous.map(|p| {
        let before = p.total_u32();
        let key = match scoring::classify_change(q, before, total) {
            ChangeClass::ReliableImprovement => "results.change_improvement",
            ChangeClass::NoReliableChange => "results.change_none",
            ChangeClass::ReliableDeterioration => "results.change_deterioration",
        };
        let diff = i64::from(total) - i64::from(before);
        ChangeView {
            previous_date: format_date(p.completed_at),
            previous_total: before,
            // A real minus sign reads better than a hyphen.
            difference: if diff > 0 {
                format!("+{diff}")
            } else if diff < 0 {
                format!("\u{2212}{}", -diff)
            } else {
                "0".to_owned()
            },
            class_text: ctx.t(key).to_owned(),
        }
    });
    let recovered = previous.is_some_and(|p| scoring::recovered(q, p.total_u32(), total));
    let next = match row
        .program_slug
        .as_deref()
        .and_then(|s| state.content.program(s))
    {
        Some(program) => {
            let completed = completed_steps(&state, &user, program.slug.as_str()).await?;
            program
                .next_step(&completed)
                .map(|s| (step_href(&s.step.id), s.step.title.get(lang).to_owned()))
        }
        None => None,
    };
    let page = ResultPage {
        id: row.id.to_string(),
        voided: row.voided_at.map(format_date),
        crisis,
        title: q.title.get(lang).to_owned(),
        date: format_date(row.completed_at),
        total,
        max_total: q.max_total(),
        band_label: q
            .band(&row.band_id)
            .map(|b| b.label.get(lang).to_owned())
            .unwrap_or_default(),
        prorated: row.prorated,
        change,
        recovered,
        next,
        ctx,
    };
    Ok(html(page.render()?))
}

pub(crate) struct ResultRowView {
    pub href: String,
    pub date: String,
    pub total: u32,
    pub band_label: String,
    pub flagged: bool,
}

pub(crate) struct SeriesView {
    pub title: String,
    pub heading_id: String,
    pub svg: String,
    pub rows: Vec<ResultRowView>,
    pub max_total: u32,
}

#[derive(Template)]
#[template(path = "program/results.html")]
struct ResultsPage {
    ctx: Ctx,
    series: Vec<SeriesView>,
    /// Answers the user voided: what, answered when, voided when.
    voided: Vec<VoidedView>,
    /// Just voided one (after the redirect).
    just_voided: bool,
}

pub(crate) struct VoidedView {
    pub href: String,
    pub title: String,
    pub answered: String,
    pub voided: String,
}

/// `?voided=1` after voiding.
#[derive(Debug, serde::Deserialize)]
pub struct ResultsQuery {
    #[serde(default)]
    voided: Option<String>,
}

#[derive(Template)]
#[template(path = "program/void.html")]
struct VoidPage {
    ctx: Ctx,
    id: String,
    title: String,
    date: String,
    total: u32,
}

/// `GET /app/results/{id}/void`: what voiding an answer means, and the
/// button. A voided answer cannot be shown here again.
pub async fn show_void(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let account = user.account_id();
    let row = state
        .store
        .run(move |conn| ResponseRow::find_for_account(conn, &account, &id))
        .await?;
    if row.voided_at.is_some() {
        return Ok(see_other(&format!("/app/results/{}", row.id)));
    }
    let title = state
        .content
        .questionnaire(&row.questionnaire_id)
        .map(|q| q.title.get(ctx.lang).to_owned())
        .unwrap_or_else(|| row.questionnaire_id.clone());
    let page = VoidPage {
        id: row.id.to_string(),
        date: format_date(row.completed_at),
        total: row.total_u32(),
        title,
        ctx,
    };
    Ok(html(page.render()?))
}

/// `POST /app/results/{id}/void`: voids one of the user's own answers.
pub async fn void_result(
    state: web::Data<AppState>,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let account = user.account_id();
    let now = state.clock.now();
    state
        .store
        .transaction(move |conn| ResponseRow::void(conn, &account, &id, now))
        .await?;
    Ok(see_other("/app/results?voided=1"))
}

/// `GET /app/results`: every questionnaire answered, as a chart and a
/// table of the same numbers. The session is resumed in the page's own
/// trip to the database, as on the overview.
pub async fn show_results(
    state: web::Data<AppState>,
    ctx: Ctx,
    pending: PendingUserSession,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, AppError> {
    let (rows, voided_rows) = state
        .store
        .run(move |conn| {
            let Some(user) = pending.resume(conn)? else {
                return Ok(None);
            };
            let account = user.account_id();
            Ok(Some((
                ResponseRow::list_for_account(conn, &account)?,
                ResponseRow::list_voided(conn, &account)?,
            )))
        })
        .await?
        .ok_or(AppError::LoginRequired)?;
    let lang = ctx.lang;
    let mut series = Vec::new();
    for q in state.content.questionnaires() {
        let mine: Vec<&ResponseRow> = rows
            .iter()
            .filter(|r| r.questionnaire_id == q.id.as_str())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let points: Vec<Point> = mine
            .iter()
            .map(|r| Point {
                label: format_short_date(r.completed_at),
                value: r.total,
            })
            .collect();
        let title = q.title.get(lang).to_owned();
        let chart_title = ctx
            .tr
            .fill("results.chart_title", &[("name", q.short_name.as_str())]);
        let desc = ctx.tr.fill(
            "results.chart_desc",
            &[
                ("min", &q.min_total().to_string()),
                ("max", &q.max_total().to_string()),
                ("count", &mine.len().to_string()),
            ],
        );
        let svg = Chart {
            id: &format!("chart-{}", q.id),
            title: &chart_title,
            desc: &desc,
            min: i64::from(q.min_total()),
            max: i64::from(q.max_total()),
            points: &points,
        }
        .render();
        series.push(SeriesView {
            title,
            heading_id: format!("results-{}", q.id),
            svg,
            max_total: q.max_total(),
            rows: mine
                .iter()
                .map(|r| ResultRowView {
                    href: format!("/app/results/{}", r.id),
                    date: format_date(r.completed_at),
                    total: r.total_u32(),
                    band_label: q
                        .band(&r.band_id)
                        .map(|b| b.label.get(lang).to_owned())
                        .unwrap_or_default(),
                    flagged: r.has_flag(SUICIDAL_IDEATION),
                })
                .collect(),
        });
    }
    let voided = voided_rows
        .iter()
        .map(|r| VoidedView {
            href: format!("/app/results/{}", r.id),
            title: state
                .content
                .questionnaire(&r.questionnaire_id)
                .map(|q| q.title.get(lang).to_owned())
                .unwrap_or_else(|| r.questionnaire_id.clone()),
            answered: format_date(r.completed_at),
            voided: r.voided_at.map(format_date).unwrap_or_default(),
        })
        .collect();
    let page = ResultsPage {
        ctx,
        series,
        voided,
        just_voided: query.voided.as_deref() == Some("1"),
    };
    Ok(html(page.render()?))
}
