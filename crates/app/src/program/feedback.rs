//! The two feedback forms of the privacy statement: "Foreslå endringer"
//! (suggest changes, including asking for a wrong registration to be
//! corrected) and "Evalueringsskjema" (an evaluation). Stored with the
//! account id; the operator reads them with `mestring feedback list`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_store::feedback::{FeedbackRow, NewFeedback};
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};

use super::{html, html_status, see_other};

/// The longest text accepted, in characters.
pub const MAX_FEEDBACK_CHARS: usize = 2000;

/// Topics of a suggestion, with their message keys.
const TOPICS: [(&str, &str); 3] = [
    ("content", "feedback.topic_content"),
    ("correction", "feedback.topic_correction"),
    ("other", "feedback.topic_other"),
];

pub(crate) struct OptionView {
    pub name: &'static str,
    pub value: String,
    pub input_id: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "program/feedback.html")]
struct FeedbackPage {
    ctx: Ctx,
    /// `suggest`, `evaluation` or `thanks`.
    kind: &'static str,
    topics: Vec<OptionView>,
    helpful: Vec<OptionView>,
    ease: Vec<OptionView>,
    body: String,
    max_chars: usize,
    /// (anchor, message).
    errors: Vec<(String, String)>,
    topic_error: bool,
    body_error: bool,
    helpful_error: bool,
    ease_error: bool,
}

fn kind(path: &str) -> Result<&'static str, AppError> {
    match path {
        "suggest" => Ok("suggest"),
        "evaluation" => Ok("evaluation"),
        "thanks" => Ok("thanks"),
        _ => Err(AppError::NotFound),
    }
}

fn scale(ctx: &Ctx, name: &'static str, chosen: &str) -> Vec<OptionView> {
    (1..=5)
        .map(|n: u8| {
            let value = n.to_string();
            OptionView {
                name,
                input_id: format!("{name}-{n}"),
                label: ctx.t(&format!("feedback.scale_{n}")).to_owned(),
                checked: chosen == value,
                value,
            }
        })
        .collect()
}

fn page(
    ctx: Ctx,
    kind: &'static str,
    f: &FeedbackForm,
    errors: Vec<(String, String)>,
) -> FeedbackPage {
    let topics = TOPICS
        .iter()
        .map(|(v, key)| OptionView {
            name: "topic",
            value: (*v).to_owned(),
            input_id: format!("topic-{v}"),
            label: ctx.t(key).to_owned(),
            checked: f.topic == *v,
        })
        .collect();
    let helpful = scale(&ctx, "helpful", &f.helpful);
    let ease = scale(&ctx, "ease", &f.ease);
    let has = |a: &str| errors.iter().any(|(x, _)| x == a);
    FeedbackPage {
        topic_error: has("field-topic"),
        body_error: has("body"),
        helpful_error: has("field-helpful"),
        ease_error: has("field-ease"),
        kind,
        topics,
        helpful,
        ease,
        body: f.body.clone(),
        max_chars: MAX_FEEDBACK_CHARS,
        errors,
        ctx,
    }
}

/// The submitted form (both kinds; unused fields stay empty).
#[derive(Debug, Default, serde::Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    helpful: String,
    #[serde(default)]
    ease: String,
    #[serde(default)]
    body: String,
}

/// `GET /app/feedback/{suggest|evaluation|thanks}`.
pub async fn show_form(
    ctx: Ctx,
    _user: UserSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let kind = kind(&path.into_inner())?;
    Ok(html(
        page(ctx, kind, &FeedbackForm::default(), Vec::new()).render()?,
    ))
}

/// `POST /app/feedback/{suggest|evaluation}`: stores the feedback, or
/// shows the form again with what was written and what is missing.
pub async fn submit_form(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    path: web::Path<String>,
    form: web::Form<FeedbackForm>,
) -> Result<HttpResponse, AppError> {
    let kind = match kind(&path.into_inner())? {
        "thanks" => return Err(AppError::NotFound),
        k => k,
    };
    let mut f = form.into_inner();
    f.body = f.body.trim().to_owned();
    let rating = |s: &str| s.parse::<i64>().ok().filter(|n| (1..=5).contains(n));
    let mut errors = Vec::new();
    let too_long = f.body.chars().count() > MAX_FEEDBACK_CHARS;
    if kind == "suggest" {
        if !TOPICS.iter().any(|(v, _)| *v == f.topic) {
            errors.push((
                "field-topic".to_owned(),
                ctx.t("feedback.error_topic").to_owned(),
            ));
        }
        if f.body.is_empty() {
            errors.push(("body".to_owned(), ctx.t("feedback.error_body").to_owned()));
        }
    } else {
        if rating(&f.helpful).is_none() {
            errors.push((
                "field-helpful".to_owned(),
                ctx.t("feedback.error_helpful").to_owned(),
            ));
        }
        if rating(&f.ease).is_none() {
            errors.push((
                "field-ease".to_owned(),
                ctx.t("feedback.error_ease").to_owned(),
            ));
        }
    }
    if too_long {
        errors.push((
            "body".to_owned(),
            ctx.tr.fill(
                "feedback.error_too_long",
                &[("max", &MAX_FEEDBACK_CHARS.to_string())],
            ),
        ));
    }
    if !errors.is_empty() {
        return Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            page(ctx, kind, &f, errors).render()?,
        ));
    }
    let account = user.account_id();
    let now = state.clock.now();
    let (stored_kind, topic, helpful, ease) = if kind == "suggest" {
        ("suggestion", Some(f.topic.clone()), None, None)
    } else {
        ("evaluation", None, rating(&f.helpful), rating(&f.ease))
    };
    let keks = state.keks.clone();
    // `submit` reads the account's data key and stores the sealed row in
    // one transaction, so a concurrent rekey cannot replace the key in
    // between (the row would never open again).
    state
        .store
        .run(move |conn| {
            FeedbackRow::submit(
                conn,
                &keks,
                &NewFeedback {
                    account: &account,
                    kind: stored_kind,
                    topic: topic.as_deref(),
                    helpful,
                    ease,
                    body: &f.body,
                },
                now,
            )
        })
        .await?;
    Ok(see_other("/app/feedback/thanks"))
}
