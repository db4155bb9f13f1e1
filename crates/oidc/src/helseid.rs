//! Staff login with HelseID (docs/oidc.md).
//!
//! The callback maps a verified clinician to an existing, invited staff
//! account (not deactivated) by the HPR number a superuser entered on it;
//! a first HelseID login activates an invitation. It never creates
//! staff, requires assurance level "substantial" or higher, checks the
//! organisation number when the deployment lists allowed ones, and never
//! stores the national identity number HelseID may send. The session that
//! follows is the same as after password and TOTP.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mestring_dashboard::session;
use mestring_domain::oidc::{Assurance, Flow, HprNumber};
use mestring_ipcrypt::RequestIp;
use mestring_store::oidc as links;
use mestring_store::staff::StaffRow;
use mestring_web::{AppError, AppState, Ctx};

use crate::flow::{self, CallbackQuery, Context, Refusal};
use crate::{Oidc, helseid_claims};

/// `GET /staff/login/helseid`: starts the login at HelseID.
pub async fn start(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    ctx: Ctx,
    ip: RequestIp,
) -> Result<HttpResponse, AppError> {
    let Some(helseid) = &oidc.helseid else {
        return Err(AppError::NotFound);
    };
    let context = Context {
        channel: None,
        org: None,
        program: None,
    };
    match flow::begin(
        &state,
        &oidc.http,
        &helseid.provider,
        Flow::HelseId,
        context,
    )
    .await?
    {
        Ok(res) => Ok(res),
        Err(why) => flow::refuse(&state, ctx, &ip, Flow::HelseId, why),
    }
}

/// `GET /staff/login/helseid/callback`: verifies the ID token and starts
/// a staff session for the linked account.
pub async fn callback(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    req: HttpRequest,
    ctx: Ctx,
    ip: RequestIp,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(helseid) = &oidc.helseid else {
        return Err(AppError::NotFound);
    };
    let refuse = |ctx, why| flow::refuse(&state, ctx, &ip, Flow::HelseId, why);
    let returned = match flow::take(&state, &req, Flow::HelseId, None, q.into_inner()).await? {
        Ok(r) => r,
        Err(why) => return refuse(ctx, why),
    };
    let now = state.clock.now();
    let verified = match returned.verify(&oidc.http, &helseid.provider, now).await {
        Ok(v) => v,
        Err(why) => return refuse(ctx, why),
    };
    let assurance = verified
        .text(helseid_claims::ASSURANCE_LEVEL)
        .or_else(|| verified.text(helseid_claims::SECURITY_LEVEL))
        .and_then(Assurance::parse);
    if !assurance.is_some_and(Assurance::enough_for_staff) {
        return refuse(ctx, Refusal::LowAssurance);
    }
    if !helseid.orgs.is_empty() {
        let named = [helseid_claims::ORG_PARENT, helseid_claims::ORG_CHILD]
            .into_iter()
            .filter_map(|c| verified.text(c))
            .any(|o| helseid.orgs.iter().any(|a| a == o.trim()));
        if !named {
            return refuse(ctx, Refusal::Organisation);
        }
    }
    let Some(hpr) = verified
        .text(helseid_claims::HPR_NUMBER)
        .and_then(|h| HprNumber::parse(h).ok())
    else {
        return refuse(ctx, Refusal::UnknownStaff);
    };
    // Nothing else of the token is kept: the national identity number
    // HelseID may send is dropped with `verified` here.
    drop(verified);
    let person = state
        .store
        .run(move |conn| links::staff_by_hpr(conn, &hpr))
        .await?;
    // Invited is enough (the superuser who entered the HPR number vouched
    // for the person, and HelseID proved who they are); deactivated is not.
    let Some(person) = person.filter(|p| p.deactivated_at.is_none()) else {
        return refuse(ctx, Refusal::UnknownStaff);
    };
    let id = person.id.clone();
    let login_id = id.clone();
    state
        .store
        .transaction(move |conn| {
            links::activate_by_helseid(conn, &login_id, now)?;
            StaffRow::record_login(conn, &login_id, now)
        })
        .await?;
    // A new token on authentication; HelseID's own second factor stands
    // in for the TOTP step, so the session starts verified.
    let token = session::start(&state, id.clone(), true).await?;
    tracing::info!(staff = %id, "staff logged in with HelseID");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, session::start_page(&person)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::cookie(&token, state.config.secure_cookies))
        .cookie(flow::clear_cookie(&state))
        .finish())
}
