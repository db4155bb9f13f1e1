//! Sharing consent: the first question, the renewal question at 22
//! weeks, and giving or withdrawing in settings.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use mestring_domain::consent::{ConsentEventKind, NotSharingReason, SharingState};
use mestring_domain::id::Id;
use mestring_domain::policy;
use mestring_store::consent::ConsentRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff_views::StaffViewRow;
use mestring_store::{DbConn, StoreError};
use mestring_web::fmt;
use mestring_web::page::{html, see_other};
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

/// Where a user goes right after logging in: the consent question the
/// first time (codes from an organisation only), the follow-up question
/// once sharing has lasted 22 weeks, otherwise the overview.
pub fn after_login_destination(
    conn: &mut DbConn,
    account: &Id,
    has_org: bool,
    now: DateTime<Utc>,
) -> Result<&'static str, StoreError> {
    if !has_org {
        return Ok("/app");
    }
    Ok(match ConsentRow::state(conn, account, now)? {
        SharingState::NeverAsked => "/consent",
        SharingState::Sharing {
            renewal_due: true, ..
        } => "/consent/renew",
        _ => "/app",
    })
}

/// The organisation's name, for accounts that have one.
async fn org_name(state: &AppState, user: &UserSession) -> Result<Option<String>, AppError> {
    let Some(org) = user.account.org_id.clone() else {
        return Ok(None);
    };

    let row = state
        .store
        .run(move |conn| OrganisationRow::find(conn, &org))
        .await?;
    Ok(Some(row.name))
}

/// One line of the consent history, ready to show.
pub struct HistoryLine {
    /// Date and time, Oslo.
    pub when: String,
    /// What happened, in the page language.
    pub what: String,
}

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    ctx: Ctx,
    org: Option<String>,
    status: String,
    sharing: bool,
    renewal_due: bool,
    history: Vec<HistoryLine>,
    views: Vec<HistoryLine>,
    notice: Option<String>,
    renewal_weeks: u32,
    lapse_weeks: u32,
}

fn kind_key(kind: &str) -> &'static str {
    match ConsentEventKind::parse(kind) {
        Ok(ConsentEventKind::Given) => "consent.event.given",
        Ok(ConsentEventKind::Renewed) => "consent.event.renewed",
        Ok(ConsentEventKind::Withdrawn) => "consent.event.withdrawn",
        Ok(ConsentEventKind::Lapsed) => "consent.event.lapsed",
        Ok(ConsentEventKind::Declined) => "consent.event.declined",
        Ok(ConsentEventKind::EndedAtRenewal) => "consent.event.ended_at_renewal",
        Err(_) => "consent.event.unknown",
    }
}

/// The status sentence for a sharing state.
fn status_text(ctx: &Ctx, org: &str, state: &SharingState) -> String {
    let tr = ctx.tr;
    match state {
        SharingState::NeverAsked => tr.fill("consent.status.never_asked", &[("org", org)]),
        SharingState::Sharing { lapses_at, .. } => tr.fill(
            "consent.status.sharing",
            &[("org", org), ("date", &fmt::date(*lapses_at))],
        ),
        SharingState::NotSharing { reason, since } => {
            let key = match reason {
                NotSharingReason::Declined => "consent.status.declined",
                NotSharingReason::Withdrawn => "consent.status.withdrawn",
                NotSharingReason::EndedAtRenewal => "consent.status.ended_at_renewal",
                NotSharingReason::Lapsed => "consent.status.lapsed",
            };
            tr.fill(key, &[("org", org), ("date", &fmt::date(*since))])
        }
    }
}

/// Query flags for notices after a redirect.
#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /settings`.
pub async fn show_settings(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, AppError> {
    let org = org_name(&state, &user).await?;
    let account = user.account_id();
    let now = state.clock.now();
    let (rows, view_rows) = state
        .store
        .run(move |conn| {
            Ok((
                ConsentRow::list_for_account(conn, &account)?,
                StaffViewRow::list_for_account(conn, &account)?,
            ))
        })
        .await?;
    let views = view_rows
        .into_iter()
        .map(|(org, at)| HistoryLine {
            when: fmt::date_time(at),
            what: org,
        })
        .collect();
    let history_events: Vec<_> = rows.iter().filter_map(|r| r.event().ok()).collect();
    let sharing_state = mestring_domain::consent::sharing_state(&history_events, now);
    let history = rows
        .iter()
        .rev()
        .map(|r| HistoryLine {
            when: fmt::date_time(r.at),
            what: ctx.t(kind_key(&r.kind)).to_owned(),
        })
        .collect();
    let notice_key = match q.done.as_deref() {
        Some("given") => Some("consent.notice.given"),
        Some("withdrawn") => Some("consent.notice.withdrawn"),
        Some("renewed") => Some("consent.notice.renewed"),
        Some("rotated") => Some("settings.code.notice_rotated"),
        _ => None,
    };
    let page = SettingsPage {
        status: status_text(&ctx, org.as_deref().unwrap_or_default(), &sharing_state),
        sharing: sharing_state.is_sharing(),
        renewal_due: matches!(
            sharing_state,
            SharingState::Sharing {
                renewal_due: true,
                ..
            }
        ),
        notice: notice_key.map(|k| ctx.t(k).to_owned()),
        ctx,
        org,
        history,
        views,
        renewal_weeks: policy::sharing::RENEWAL_QUESTION_WEEKS,
        lapse_weeks: policy::sharing::LAPSE_WEEKS,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "settings/consent_question.html")]
struct QuestionPage {
    ctx: Ctx,
    org: String,
    renewal: bool,
    renewal_weeks: u32,
}

/// The question page: the first one, or the 22-week renewal question.
async fn question_page(
    state: &AppState,
    ctx: Ctx,
    user: &UserSession,
    renewal: bool,
) -> Result<HttpResponse, AppError> {
    let Some(org) = org_name(state, user).await? else {
        return Ok(see_other("/app"));
    };
    let page = QuestionPage {
        ctx,
        org,
        renewal,
        renewal_weeks: policy::sharing::RENEWAL_QUESTION_WEEKS,
    };
    Ok(html(page.render()?))
}

/// `GET /consent`: the first question (only for organisation codes).
pub async fn show_question(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    question_page(&state, ctx, &user, false).await
}

/// `GET /consent/renew`: "Do you still receive follow-up?"
pub async fn show_renewal(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    question_page(&state, ctx, &user, true).await
}

/// A yes/no answer.
#[derive(Debug, Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    choice: String,
}

/// Records `kind` if the state at `now` allows it; returns whether it did.
async fn record(
    state: &AppState,
    user: &UserSession,
    allowed: fn(&SharingState) -> bool,
    kind: ConsentEventKind,
) -> Result<bool, AppError> {
    if user.account.org_id.is_none() {
        return Ok(false);
    }
    let account = user.account_id();
    let now = state.clock.now();
    Ok(state
        .store
        .transaction(move |conn| {
            let current = ConsentRow::state(conn, &account, now)?;
            if !allowed(&current) {
                return Ok(false);
            }
            ConsentRow::record(conn, &account, kind, now)?;
            Ok(true)
        })
        .await?)
}

/// `POST /consent`: answer to the first question.
pub async fn answer_question(
    state: web::Data<AppState>,
    user: UserSession,
    form: web::Form<ChoiceForm>,
) -> Result<HttpResponse, AppError> {
    let (kind, allowed): (ConsentEventKind, fn(&SharingState) -> bool) = match form.choice.as_str()
    {
        "yes" => (ConsentEventKind::Given, |s| !s.is_sharing()),
        "no" => (ConsentEventKind::Declined, |s| {
            matches!(s, SharingState::NeverAsked)
        }),
        _ => return Err(AppError::BadRequest),
    };
    record(&state, &user, allowed, kind).await?;
    Ok(see_other("/app"))
}

/// `POST /consent/renew`: yes renews for 22 new weeks, no ends sharing.
pub async fn answer_renewal(
    state: web::Data<AppState>,
    user: UserSession,
    form: web::Form<ChoiceForm>,
) -> Result<HttpResponse, AppError> {
    let kind = match form.choice.as_str() {
        "yes" => ConsentEventKind::Renewed,
        "no" => ConsentEventKind::EndedAtRenewal,
        _ => return Err(AppError::BadRequest),
    };
    let done = record(&state, &user, SharingState::is_sharing, kind).await?;
    Ok(see_other(match (done, kind) {
        (true, ConsentEventKind::Renewed) => "/settings?done=renewed",
        (true, _) => "/settings?done=withdrawn",
        (false, _) => "/settings",
    }))
}

/// Give or withdraw.
#[derive(Debug, Deserialize)]
pub struct SharingForm {
    #[serde(default)]
    action: String,
}

/// `POST /settings/sharing`: one step either way.
pub async fn change_sharing(
    state: web::Data<AppState>,
    user: UserSession,
    form: web::Form<SharingForm>,
) -> Result<HttpResponse, AppError> {
    let (kind, allowed, done): (ConsentEventKind, fn(&SharingState) -> bool, &str) =
        match form.action.as_str() {
            "give" => (
                ConsentEventKind::Given,
                |s| !s.is_sharing(),
                "/settings?done=given",
            ),
            "withdraw" => (
                ConsentEventKind::Withdrawn,
                SharingState::is_sharing,
                "/settings?done=withdrawn",
            ),
            _ => return Err(AppError::BadRequest),
        };
    let changed = record(&state, &user, allowed, kind).await?;
    Ok(see_other(if changed { done } else { "/settings" }))
}
