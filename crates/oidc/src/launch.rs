//! The citizen launch from the health portal (docs/oidc.md).
//!
//! `GET /launch/{channel}?org=…&program=…` is the link the portal opens;
//! it checks the launch context and sends the browser to the portal's
//! identity provider (scope `openid` only). The callback verifies the ID
//! token, refuses one that carries a national identity number, a name,
//! other personal claims or a representation relation, and finds or
//! creates the account keyed by HMAC(pepper, channel, `sub`). What follows
//! is a normal user session.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use mestring_dashboard::codes::PSEUDONYM_PURPOSE;
use mestring_domain::access_code::AccessCode;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_domain::oidc::{Flow, LaunchKey, PortalSubject, first_refused};
use mestring_ipcrypt::RequestIp;
use mestring_store::StoreError;
use mestring_store::accounts::{AccountRow, NewAccount};
use mestring_store::oidc as links;
use mestring_store::organisations::OrganisationRow;
use mestring_web::session::{self, SESSION_COOKIE};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::Oidc;
use crate::flow::{self, CallbackQuery, Context, Refusal};
use crate::provider::Problem;

/// The launch context in the portal's link. `Debug` is derived: it holds
/// only an organisation id and a program slug.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    program: Option<String>,
}

/// `GET /launch/{channel}`: checks the launch context and starts the
/// authorization code flow.
pub async fn start(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    ctx: Ctx,
    ip: RequestIp,
    path: web::Path<String>,
    q: web::Query<LaunchQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(launch) = oidc.launch_for(&path) else {
        return Err(AppError::NotFound);
    };
    let q = q.into_inner();
    let org = match q.org.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => match Id::parse(s) {
            Ok(id) => Some(id),
            Err(_) => return broken(ctx),
        },
        None => None,
    };
    let program = q
        .program
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if let Some(p) = &program
        && state.content.program(p).is_none()
    {
        return broken(ctx);
    }
    if let Some(o) = &org {
        let allowed_here = launch.orgs.is_empty() || launch.orgs.contains(o);
        let id = o.clone();
        let in_channel = state
            .store
            .run(move |conn| match OrganisationRow::find(conn, &id) {
                Ok(row) => Ok(Some(row.channel())),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            })
            .await?
            .is_some_and(|c| c == launch.channel);
        if !(allowed_here && in_channel) {
            return broken(ctx);
        }
    }
    let context = Context {
        channel: Some(&launch.channel),
        org: org.as_ref(),
        program: program.as_deref(),
    };
    match flow::begin(&state, &oidc.http, &launch.provider, Flow::Launch, context).await? {
        Ok(res) => Ok(res),
        Err(why) => flow::refuse(&state, ctx, &ip, Flow::Launch, why),
    }
}

/// A launch link that names an unknown or foreign organisation or an
/// unknown program: 400, nothing stored.
fn broken(ctx: Ctx) -> Result<HttpResponse, AppError> {
    flow::render(
        ctx,
        StatusCode::BAD_REQUEST,
        "oidc.launch_broken",
        Flow::Launch,
    )
}

/// `GET /launch/{channel}/callback`: verifies the ID token and logs the
/// citizen in to the account their pseudonym keys.
pub async fn callback(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    req: HttpRequest,
    ctx: Ctx,
    ip: RequestIp,
    path: web::Path<String>,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(launch) = oidc.launch_for(&path) else {
        return Err(AppError::NotFound);
    };
    let refuse = |ctx, why| flow::refuse(&state, ctx, &ip, Flow::Launch, why);
    let returned = match flow::take(
        &state,
        &req,
        Flow::Launch,
        Some(&launch.channel),
        q.into_inner(),
    )
    .await?
    {
        Ok(r) => r,
        Err(why) => return refuse(ctx, why),
    };
    let now = state.clock.now();
    let verified = match returned.verify(&oidc.http, &launch.provider, now).await {
        Ok(v) => v,
        Err(why) => return refuse(ctx, why),
    };
    if let Some(kind) = first_refused(verified.claim_names.iter().map(String::as_str)) {
        return refuse(ctx, Refusal::Identity(kind));
    }
    let Ok(subject) = PortalSubject::parse(&verified.subject) else {
        return refuse(ctx, Refusal::Token(Problem::Invalid));
    };
    let key = LaunchKey::derive(&state.pepper, &launch.channel, &subject);
    drop(subject);
    let account = enter(&state, key, launch.channel.clone(), &returned.pending).await?;
    let token = session::start(&state, account.id.clone()).await?;
    let id = account.id.clone();
    let has_org = account.org_id.is_some();
    let destination = state
        .store
        .run(move |conn| mestring_app::after_login_destination(conn, &id, has_org, now))
        .await?;
    tracing::info!(
        channel = launch.channel.as_str(),
        "citizen launched from the portal"
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, destination))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(token.cookie(SESSION_COOKIE, state.config.secure_cookies))
        .cookie(flow::clear_cookie(&state))
        .finish())
}

/// Finds the account a launch key links to, or creates one (with the
/// launch context's organisation and program), and records the login.
/// An account that can no longer log in (deactivated after five years
/// unused) is unlinked, and the identity starts a new one.
async fn enter(
    state: &AppState,
    key: LaunchKey,
    channel: ChannelSlug,
    pending: &mestring_store::oidc::PendingLogin,
) -> Result<AccountRow, AppError> {
    let now = state.clock.now();
    let org = pending.org_id();
    let program = pending.program_slug.clone();
    let pepper = state.pepper.clone();
    let seal = state.seal.clone();
    let account = state
        .store
        .transaction(move |conn| {
            if let Some(account) = links::account_for_launch(conn, &key)? {
                if account.can_log_in(now) {
                    mestring_app::record_login(conn, &account.id, now)?;
                    return AccountRow::find(conn, &account.id);
                }
                AccountRow::deactivate(conn, &account.id, now)?;
                links::unlink(conn, &account.id)?;
            }
            // The account's code is drawn and forgotten: nobody knows it
            // until the citizen asks for one in settings (which replaces
            // it). The organisation's pseudonym is another random code,
            // sealed for it, that logs nobody in: staff who issued no code
            // must not hold one that works.
            let code_hash = loop {
                let hash = pepper.hash(&AccessCode::generate());
                if AccountRow::find_by_code_hash(conn, &hash)?.is_none() {
                    break hash;
                }
            };
            let label = org.as_ref().map(|o| {
                seal.seal(
                    PSEUDONYM_PURPOSE,
                    o.as_str(),
                    AccessCode::generate().reveal().as_bytes(),
                )
            });
            let id = links::create_launched(
                conn,
                &key,
                &channel,
                &NewAccount {
                    code_hash: &code_hash,
                    org_id: org.as_ref(),
                    program_slug: program.as_deref(),
                    pseudonym: label.as_deref(),
                },
                now,
            )?;
            mestring_app::record_login(conn, &id, now)?;
            AccountRow::find(conn, &id)
        })
        .await?;
    Ok(account)
}
