//! Registrations: fill in a form, list entries, see them over time.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::content::{
    Entry, EntryError, FieldId, FieldKind, FieldValue, Lang, RegistrationForm, Step, StepKind,
};
use mestring_store::account_keys;
use mestring_store::progress::ProgressRow;
use mestring_store::registrations::{NewRegistration, RegistrationRow};
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};

use super::questionnaire::StepQuery;
use super::{
    completed_steps, form_value, format_date, format_short_date, html, html_status, see_other,
    step_href, touch_activity, user_program,
};
use mestring_web::chart::{Chart, Point};

pub(crate) struct ChoiceView {
    pub name: String,
    pub value: String,
    pub input_id: String,
    pub label: String,
    pub checked: bool,
}

pub(crate) struct RatedView {
    pub name: String,
    pub input_id: String,
    pub label: String,
    pub value: String,
}

/// One field; `kind` selects which of the lists the template uses.
pub(crate) struct FieldView {
    pub anchor: String,
    pub name: String,
    pub kind: &'static str,
    pub label: String,
    pub hint: Option<String>,
    pub required: bool,
    pub error: Option<String>,
    pub choices: Vec<ChoiceView>,
    pub rated: Vec<RatedView>,
    pub min: i32,
    pub max: i32,
    pub min_label: String,
    pub max_label: String,
    pub text: String,
    pub max_chars: u32,
}

#[derive(Template)]
#[template(path = "program/registration_form.html")]
struct FormPage {
    ctx: Ctx,
    title: String,
    intro: String,
    action: String,
    step: Option<String>,
    /// On the edit page: which entry is being changed, and what that means.
    edit_note: Option<String>,
    fields: Vec<FieldView>,
    errors: Vec<(String, String)>,
}

/// Submitted values by field name, to fill the form in again.
type Submitted = BTreeMap<String, Vec<String>>;

fn error_message(ctx: &Ctx, e: &EntryError) -> Option<(FieldId, String)> {
    Some(match e {
        EntryError::Required(f) => (f.clone(), ctx.t("registration.error_required").to_owned()),
        EntryError::Malformed(f) | EntryError::UnknownCategory { field: f, .. } => {
            (f.clone(), ctx.t("registration.error_malformed").to_owned())
        }
        EntryError::OutOfRange { field, min, max } => (
            field.clone(),
            ctx.tr.fill(
                "registration.error_range",
                &[("min", &min.to_string()), ("max", &max.to_string())],
            ),
        ),
        EntryError::TooMany { field, max } => (
            field.clone(),
            ctx.tr
                .fill("registration.error_too_many", &[("max", &max.to_string())]),
        ),
        EntryError::TooLong { field, max } => (
            field.clone(),
            ctx.tr
                .fill("registration.error_too_long", &[("max", &max.to_string())]),
        ),
        EntryError::UnknownField(_) => return None,
    })
}

fn field_views(
    lang: Lang,
    form: &RegistrationForm,
    submitted: &Submitted,
    errors: &BTreeMap<FieldId, String>,
) -> Vec<FieldView> {
    let given = |name: &str| submitted.get(name).cloned().unwrap_or_default();
    form.fields
        .iter()
        .map(|f| {
            let name = f.id.to_string();
            let values = given(&name);
            let choice = |value: String, label: String| ChoiceView {
                input_id: format!("{name}-{value}"),
                checked: values.contains(&value),
                name: name.clone(),
                value,
                label,
            };
            let mut v = FieldView {
                anchor: format!("field-{name}"),
                name: name.clone(),
                kind: "note",
                label: f.label.get(lang).to_owned(),
                hint: f.hint.as_ref().map(|h| h.get(lang).to_owned()),
                required: f.required,
                error: errors.get(&f.id).cloned(),
                choices: Vec::new(),
                rated: Vec::new(),
                min: 0,
                max: 0,
                min_label: String::new(),
                max_label: String::new(),
                text: String::new(),
                max_chars: 0,
            };
            match &f.kind {
                FieldKind::Scale {
                    min,
                    max,
                    min_label,
                    max_label,
                } => {
                    v.kind = "scale";
                    v.min = *min;
                    v.max = *max;
                    v.min_label = min_label.get(lang).to_owned();
                    v.max_label = max_label.get(lang).to_owned();
                    v.choices = (*min..=*max)
                        .map(|n| choice(n.to_string(), n.to_string()))
                        .collect();
                }
                FieldKind::Choice { options } => {
                    v.kind = "choice";
                    v.choices = options
                        .iter()
                        .map(|c| choice(c.id.to_string(), c.label.get(lang).to_owned()))
                        .collect();
                }
                FieldKind::MultiChoice { options, .. } => {
                    v.kind = "multi";
                    v.choices = options
                        .iter()
                        .map(|c| choice(c.id.to_string(), c.label.get(lang).to_owned()))
                        .collect();
                }
                FieldKind::RatedChoice { options, min, max } => {
                    v.kind = "rated";
                    v.min = *min;
                    v.max = *max;
                    v.rated = options
                        .iter()
                        .map(|c| {
                            let sub = format!("{name}.{}", c.id);
                            RatedView {
                                input_id: format!("{name}-{}", c.id),
                                value: given(&sub).into_iter().next().unwrap_or_default(),
                                name: sub,
                                label: c.label.get(lang).to_owned(),
                            }
                        })
                        .collect();
                }
                FieldKind::Note { max_chars } => {
                    v.kind = "note";
                    v.max_chars = *max_chars;
                    v.text = values.into_iter().next().unwrap_or_default();
                }
            }
            v
        })
        .collect()
}

/// The step a form is filled in for: a registration or exercise step of
/// the account's program using this very form.
fn resolve_step<'a>(
    state: &'a AppState,
    user: &UserSession,
    form: &RegistrationForm,
    step: Option<&str>,
) -> Result<Option<(&'a str, &'a Step)>, AppError> {
    let Some(step) = step.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let program = user_program(state, user).ok_or(AppError::NotFound)?;
    let (_, s) = program.step(step).ok_or(AppError::NotFound)?;
    match &s.kind {
        StepKind::Registration { .. } | StepKind::Exercise { .. }
            if s.kind.registration() == Some(&form.id) =>
        {
            Ok(Some((program.slug.as_str(), s)))
        }
        _ => Err(AppError::NotFound),
    }
}

async fn step_is_locked(
    state: &AppState,
    user: &UserSession,
    step: Option<(&str, &Step)>,
) -> Result<bool, AppError> {
    let Some((slug, s)) = step else {
        return Ok(false);
    };
    let Some(program) = state.content.program(slug) else {
        return Ok(false);
    };
    let completed = completed_steps(state, user, slug).await?;
    Ok(!program.is_unlocked(s.id.as_str(), &completed))
}

/// Where a form posts to: a new entry (maybe as part of a step), or an
/// edit of an existing one.
enum Target<'a> {
    New(Option<&'a Step>),
    Edit { id: &'a str, date: &'a str },
}

/// An entry as the form's submitted values, so the edit page shows what
/// was saved.
fn submitted_from(entry: &Entry) -> Submitted {
    let mut out = Submitted::new();
    for (field, value) in entry {
        let name = field.to_string();
        match value {
            FieldValue::Scale(v) => {
                out.insert(name, vec![v.to_string()]);
            }
            FieldValue::Choice(c) => {
                out.insert(name, vec![c.to_string()]);
            }
            FieldValue::MultiChoice(cs) => {
                out.insert(name, cs.iter().map(ToString::to_string).collect());
            }
            FieldValue::Rated(rs) => {
                for (c, v) in rs {
                    out.insert(format!("{name}.{c}"), vec![v.to_string()]);
                }
            }
            FieldValue::Note(t) => {
                out.insert(name, vec![t.clone()]);
            }
        }
    }
    out
}

fn render_form(
    ctx: Ctx,
    form: &RegistrationForm,
    target: &Target<'_>,
    submitted: &Submitted,
    errors: &BTreeMap<FieldId, String>,
) -> Result<String, AppError> {
    let lang = ctx.lang;
    let fields = field_views(lang, form, submitted, errors);
    let summary = fields
        .iter()
        .filter_map(|f| {
            f.error
                .as_ref()
                .map(|e| (f.anchor.clone(), format!("{}: {e}", f.label)))
        })
        .collect();
    let title = form.title.get(lang).to_owned();
    let (action, step, edit_note) = match target {
        Target::New(step) => (
            format!("/app/registrations/{}/new", form.id),
            step.map(|s| s.id.to_string()),
            None,
        ),
        Target::Edit { id, date } => (
            format!("/app/registrations/entries/{id}/edit"),
            None,
            Some(ctx.tr.fill(
                "registration.edit_which",
                &[("name", title.as_str()), ("date", date)],
            )),
        ),
    };
    let page = FormPage {
        title,
        intro: form.intro.get(lang).to_owned(),
        action,
        step,
        edit_note,
        fields,
        errors: summary,
        ctx,
    };
    Ok(page.render()?)
}

/// Parses a submitted form into an entry; when it does not parse, the
/// page to answer with instead (`Ok(Err(page))`: 422, the form again with everything the
/// user gave kept and each problem named).
fn parse_or_show_again(
    ctx: Ctx,
    form: &RegistrationForm,
    target: &Target<'_>,
    pairs: &[(String, String)],
) -> Result<Result<Entry, HttpResponse>, AppError> {
    let errs = match form.parse_submission(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(entry) => return Ok(Ok(entry)),
        Err(errs) => errs,
    };
    let mut by_field = BTreeMap::new();
    for e in &errs {
        if let Some((f, msg)) = error_message(&ctx, e) {
            by_field.entry(f).or_insert(msg);
        }
    }
    let mut submitted = Submitted::new();
    for (k, v) in pairs {
        submitted.entry(k.clone()).or_default().push(v.clone());
    }
    let body = render_form(ctx, form, target, &submitted, &by_field)?;
    Ok(Err(html_status(StatusCode::UNPROCESSABLE_ENTITY, body)))
}

/// `GET /app/registrations/{id}/new`: an empty form.
pub async fn show_form(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    query: web::Query<StepQuery>,
) -> Result<HttpResponse, AppError> {
    let form = state
        .content
        .registration(&path.into_inner())
        .ok_or(AppError::NotFound)?;
    let step = resolve_step(&state, &user, form, query.step.as_deref())?;
    if let Some((_, s)) = step
        && step_is_locked(&state, &user, step).await?
    {
        return Ok(see_other(&step_href(&s.id)));
    }
    touch_activity(&state, &user).await;
    let body = render_form(
        ctx,
        form,
        &Target::New(step.map(|(_, s)| s)),
        &Submitted::new(),
        &BTreeMap::new(),
    )?;
    Ok(html(body))
}

/// `POST /app/registrations/{id}/new`: checks and saves an entry, or shows
/// the form again with everything kept and each problem named.
pub async fn submit_form(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    pairs: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let form = state
        .content
        .registration(&path.into_inner())
        .ok_or(AppError::NotFound)?;
    let pairs = pairs.into_inner();
    let step_field = form_value(&pairs, "step");
    let step = resolve_step(&state, &user, form, step_field)?;
    if let Some((_, s)) = step
        && step_is_locked(&state, &user, step).await?
    {
        return Ok(see_other(&step_href(&s.id)));
    }
    let entry = match parse_or_show_again(ctx, form, &Target::New(step.map(|(_, s)| s)), &pairs)? {
        Ok(entry) => entry,
        Err(page) => return Ok(page),
    };
    let account = user.account_id();
    let form_id = form.id.to_string();
    let version = form.version;
    let step_ids = step.map(|(p, s)| (p.to_owned(), s.id.to_string()));
    let registration_step = step.is_some_and(|(_, s)| {
        matches!(
            s.kind,
            StepKind::Registration { .. } | StepKind::Exercise { .. }
        )
    });
    let now = state.clock.now();
    let back = step_ids.as_ref().map(|(_, s)| format!("/app/steps/{s}"));
    let keks = state.keks.clone();
    state
        .store
        .transaction(move |conn| {
            let key = account_keys::for_writing(conn, &keks, &account, now)?;
            RegistrationRow::insert(
                conn,
                &key,
                &NewRegistration {
                    account: &account,
                    registration_id: &form_id,
                    form_version: version,
                    step: step_ids.as_ref().map(|(p, s)| (p.as_str(), s.as_str())),
                    entry: &entry,
                },
                now,
            )?;
            // Saving an entry completes a registration step, and an
            // exercise that asks for this form.
            if let (Some((p, s)), true) = (&step_ids, registration_step) {
                ProgressRow::mark_completed(conn, &account, p, s, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(see_other(&match back {
        Some(step) => step,
        None => "/app/registrations?saved=true".to_owned(),
    }))
}

/// One entry as a row of the table: the date and one cell per field.
pub(crate) struct EntryView {
    pub date: String,
    pub cells: Vec<String>,
    /// When the user last changed it, if they have.
    pub edited: Option<String>,
    /// The page for changing this entry.
    pub edit_href: String,
    /// The confirmation page for deleting this entry.
    pub delete_href: String,
}

pub(crate) struct FormSummaryView {
    pub title: String,
    pub heading_id: String,
    pub new_href: String,
    pub columns: Vec<String>,
    pub entries: Vec<EntryView>,
    /// One chart per scale field: (svg).
    pub charts: Vec<String>,
}

#[derive(Template)]
#[template(path = "program/registrations.html")]
struct ListPage {
    ctx: Ctx,
    forms: Vec<FormSummaryView>,
    saved: bool,
    edited: bool,
    deleted: bool,
}

fn cell(lang: Lang, form: &RegistrationForm, field: &FieldId, entry: &Entry) -> String {
    let Some(f) = form.field(field.as_str()) else {
        return String::new();
    };
    let label = |c: &str| {
        f.category(c)
            .map(|c| c.label.get(lang).to_owned())
            .unwrap_or_else(|| c.to_owned())
    };
    match entry.get(field) {
        None => String::new(),
        Some(FieldValue::Scale(v)) => v.to_string(),
        Some(FieldValue::Choice(c)) => label(c.as_str()),
        Some(FieldValue::MultiChoice(cs)) => cs
            .iter()
            .map(|c| label(c.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        Some(FieldValue::Rated(rs)) => rs
            .iter()
            .map(|(c, v)| format!("{} {v}", label(c.as_str())))
            .collect::<Vec<_>>()
            .join(", "),
        Some(FieldValue::Note(t)) => t.clone(),
    }
}

/// Query flags for the list.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    saved: bool,
    #[serde(default)]
    edited: bool,
    #[serde(default)]
    deleted: bool,
}

/// `GET /app/registrations`: every form, with the account's entries as a
/// table and each scale as a chart over time.
pub async fn show_list(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    touch_activity(&state, &user).await;
    let account = user.account_id();
    let keks = state.keks.clone();
    let all = state
        .store
        .run(move |conn| RegistrationRow::list_with_values(conn, &keks, &account))
        .await?;
    let lang = ctx.lang;
    let mut forms = Vec::new();
    for form in state.content.registrations() {
        let mine: Vec<_> = all
            .iter()
            .filter(|(r, _)| r.registration_id == form.id.as_str())
            .collect();
        let ids: BTreeSet<&FieldId> = form.fields.iter().map(|f| &f.id).collect();
        let columns = form
            .fields
            .iter()
            .map(|f| f.label.get(lang).to_owned())
            .collect();
        let entries = mine
            .iter()
            .map(|(r, e)| EntryView {
                edited: r.edited_at.map(format_date),
                edit_href: format!("/app/registrations/entries/{}/edit", r.id),
                delete_href: format!("/app/registrations/entries/{}/delete", r.id),
                date: format_date(r.created_at),
                cells: form
                    .fields
                    .iter()
                    .filter(|f| ids.contains(&f.id))
                    .map(|f| cell(lang, form, &f.id, e))
                    .collect(),
            })
            .collect();
        let mut charts = Vec::new();
        if mine.len() > 1 {
            for f in &form.fields {
                let FieldKind::Scale { min, max, .. } = f.kind else {
                    continue;
                };
                let points: Vec<Point> = mine
                    .iter()
                    .filter_map(|(r, e)| match e.get(&f.id) {
                        Some(FieldValue::Scale(v)) => Some(Point {
                            label: format_short_date(r.created_at),
                            value: i64::from(*v),
                        }),
                        _ => None,
                    })
                    .collect();
                let desc = ctx.tr.fill(
                    "registration.chart_desc",
                    &[
                        ("min", &min.to_string()),
                        ("max", &max.to_string()),
                        ("count", &points.len().to_string()),
                    ],
                );
                charts.push(
                    Chart {
                        id: &format!("chart-{}-{}", form.id, f.id),
                        title: f.label.get(lang),
                        desc: &desc,
                        min: i64::from(min),
                        max: i64::from(max),
                        points: &points,
                    }
                    .render(),
                );
            }
        }
        forms.push(FormSummaryView {
            title: form.title.get(lang).to_owned(),
            heading_id: format!("form-{}", form.id),
            new_href: format!("/app/registrations/{}/new", form.id),
            columns,
            entries,
            charts,
        });
    }
    let page = ListPage {
        forms,
        saved: query.saved,
        edited: query.edited,
        deleted: query.deleted,
        ctx,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "program/registration_delete.html")]
struct DeletePage {
    ctx: Ctx,
    id: String,
    title: String,
    date: String,
}

/// `GET /app/registrations/entries/{id}/delete`: what deleting means, and
/// the button.
pub async fn show_delete(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let account = user.account_id();
    let row = state
        .store
        .run(move |conn| RegistrationRow::find_for_account(conn, &account, &id))
        .await?;
    let title = state
        .content
        .registration(&row.registration_id)
        .map(|f| f.title.get(ctx.lang).to_owned())
        .unwrap_or_else(|| row.registration_id.clone());
    let page = DeletePage {
        id: row.id.to_string(),
        date: format_date(row.created_at),
        title,
        ctx,
    };
    Ok(html(page.render()?))
}

/// `POST /app/registrations/entries/{id}/delete`: deletes one of the user's
/// own entries for good. On SQLite the WAL is checkpointed afterwards, so
/// the text is gone from the files, not only from the tables.
pub async fn delete_entry(
    state: web::Data<AppState>,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let account = user.account_id();
    let (keks, now) = (state.keks.clone(), state.clock.now());
    state
        .store
        .transaction(move |conn| {
            RegistrationRow::delete_for_account(conn, &keks, &account, &id, now)
        })
        .await?;
    state.store.checkpoint().await?;
    Ok(see_other("/app/registrations?deleted=true"))
}

/// The user's entry `id` with the form it was made with; `NotFound` for
/// anyone else's id or a form no longer in the content.
async fn own_entry<'s>(
    state: &'s AppState,
    user: &UserSession,
    id: String,
) -> Result<(RegistrationRow, Entry, &'s RegistrationForm), AppError> {
    let account = user.account_id();
    let keks = state.keks.clone();
    let (row, entry) = state
        .store
        .run(move |conn| RegistrationRow::find_with_values(conn, &keks, &account, &id))
        .await?;
    let form = state
        .content
        .registration(&row.registration_id)
        .ok_or(AppError::NotFound)?;
    Ok((row, entry, form))
}

/// `GET /app/registrations/entries/{id}/edit`: the form filled in with
/// what was saved.
pub async fn show_edit(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (row, entry, form) = own_entry(&state, &user, path.into_inner()).await?;
    touch_activity(&state, &user).await;
    let date = format_date(row.created_at);
    let body = render_form(
        ctx,
        form,
        &Target::Edit {
            id: row.id.as_str(),
            date: &date,
        },
        &submitted_from(&entry),
        &BTreeMap::new(),
    )?;
    Ok(html(body))
}

/// `POST /app/registrations/entries/{id}/edit`: checks the changed entry
/// and replaces the saved one, or shows the form again with everything
/// kept and each problem named. The old values are deleted, not kept as
/// history; on SQLite the WAL is checkpointed so they leave the files.
pub async fn submit_edit(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    pairs: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (row, _, form) = own_entry(&state, &user, path.into_inner()).await?;
    let pairs = pairs.into_inner();
    let date = format_date(row.created_at);
    let target = Target::Edit {
        id: row.id.as_str(),
        date: &date,
    };
    let entry = match parse_or_show_again(ctx, form, &target, &pairs)? {
        Ok(entry) => entry,
        Err(page) => return Ok(page),
    };
    let (account, now, keks) = (user.account_id(), state.clock.now(), state.keks.clone());
    state
        .store
        .transaction(move |conn| {
            RegistrationRow::replace_for_account(
                conn,
                &keks,
                &account,
                row.id.as_str(),
                &entry,
                now,
            )
        })
        .await?;
    state.store.checkpoint().await?;
    Ok(see_other("/app/registrations?edited=true"))
}
