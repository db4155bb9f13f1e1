//! What the portal launch and HelseID share: a login sent to the provider
//! is stored under the SHA-256 of its `state`, bound to the browser that
//! began it by a random cookie, and taken (deleted) by the callback, so it
//! works once, in that browser, within ten minutes. A refused login gets a
//! clear page, a security event and a log line naming only the reason.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_domain::oidc::{Flow, RefusedClaim};
use mestring_domain::policy::oidc::PENDING_LOGIN;
use mestring_ipcrypt::{RequestIp, SecurityEventKind};
use mestring_store::oidc::{NewPendingLogin, PendingLogin};
use mestring_web::page::html_status;
use mestring_web::session::{hash_token, removal_cookie};
use mestring_web::{AppError, AppState, Ctx};
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::provider::{Problem, Provider};

/// The cookie that binds a login to the browser that began it.
pub const BROWSER_COOKIE: &str = "mestring_oidc";

/// What the provider sends back. `Debug` is not derived: it holds the
/// authorization code.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Why a login did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The person cancelled at the provider (no security event).
    Cancelled,
    /// The provider could not be reached (no security event).
    Unavailable,
    /// No such pending login: replayed, foreign or expired `state`, or
    /// another browser.
    State,
    /// The token failed verification.
    Token(Problem),
    /// The token carried what the platform must not receive.
    Identity(RefusedClaim),
    /// HelseID below the required assurance level.
    LowAssurance,
    /// HelseID for an organisation not allowed here.
    Organisation,
    /// HelseID identity that maps to no active staff account.
    UnknownStaff,
}

impl Refusal {
    /// A stable word for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Unavailable => "provider_unavailable",
            Self::State => "unknown_state",
            Self::Token(p) => p.as_str(),
            Self::Identity(c) => c.as_str(),
            Self::LowAssurance => "low_assurance",
            Self::Organisation => "organisation_not_allowed",
            Self::UnknownStaff => "no_staff_account",
        }
    }

    fn message_key(self) -> &'static str {
        match self {
            Self::Cancelled => "oidc.cancelled",
            Self::Unavailable => "oidc.unavailable",
            Self::State => "oidc.refused_state",
            Self::Token(Problem::Unavailable) => "oidc.unavailable",
            Self::Token(_) => "oidc.refused_token",
            Self::Identity(RefusedClaim::Representation) => "oidc.refused_representation",
            Self::Identity(_) => "oidc.refused_identity",
            Self::LowAssurance => "oidc.helseid_low_assurance",
            Self::Organisation => "oidc.helseid_organisation",
            Self::UnknownStaff => "oidc.helseid_unknown",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::Cancelled => StatusCode::OK,
            Self::Unavailable | Self::Token(Problem::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn is_security_event(self) -> bool {
        !matches!(
            self,
            Self::Cancelled | Self::Unavailable | Self::Token(Problem::Unavailable)
        )
    }
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        match p {
            Problem::Unavailable => Self::Unavailable,
            other => Self::Token(other),
        }
    }
}

#[derive(Template)]
#[template(path = "oidc/refused.html")]
struct RefusedPage {
    ctx: Ctx,
    message: String,
    back: &'static str,
    back_label: String,
}

/// The page for a login that did not go through; records the security
/// event where one is due and clears the browser-binding cookie.
pub fn refuse(
    state: &AppState,
    ctx: Ctx,
    ip: &RequestIp,
    flow: Flow,
    why: Refusal,
) -> Result<HttpResponse, AppError> {
    if why.is_security_event() {
        state.ip.record_event(ip, SecurityEventKind::OidcRefused);
        tracing::warn!(
            flow = flow.as_str(),
            reason = why.reason(),
            "OpenID Connect login refused"
        );
    } else {
        tracing::info!(
            flow = flow.as_str(),
            reason = why.reason(),
            "OpenID Connect login not completed"
        );
    }
    let mut res = render(ctx, why.status(), why.message_key(), flow)?;
    res.add_cookie(&clear_cookie(state))
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(res)
}

/// A page that says why a login stopped, with a way back to its start.
pub fn render(
    ctx: Ctx,
    status: StatusCode,
    message_key: &str,
    flow: Flow,
) -> Result<HttpResponse, AppError> {
    let (back, back_key) = match flow {
        Flow::Launch => ("/login", "oidc.back_login"),
        Flow::HelseId => ("/staff/login", "oidc.back_staff_login"),
    };
    let page = RefusedPage {
        message: ctx.t(message_key).to_owned(),
        back_label: ctx.t(back_key).to_owned(),
        back,
        ctx,
    };
    Ok(html_status(status, page.render()?))
}

/// The cookie removal for a finished login.
pub fn clear_cookie(state: &AppState) -> Cookie<'static> {
    removal_cookie(BROWSER_COOKIE, state.config.secure_cookies)
}

/// The launch context stored with a pending launch.
pub struct Context<'a> {
    /// The launch channel.
    pub channel: Option<&'a ChannelSlug>,
    /// The assigning organisation.
    pub org: Option<&'a Id>,
    /// The program.
    pub program: Option<&'a str>,
}

/// Stores a pending login and sends the browser to the provider.
pub async fn begin(
    state: &AppState,
    http: &crate::http::Http,
    provider: &Provider,
    flow: Flow,
    context: Context<'_>,
) -> Result<Result<HttpResponse, Refusal>, AppError> {
    let begun = match provider.begin(http).await {
        Ok(b) => b,
        Err(p) => return Ok(Err(p.into())),
    };
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let browser = hex::encode(raw);
    let state_hash = hash_token(&begun.state);
    let browser_hash = hash_token(&browser);
    let channel = context.channel.cloned();
    let org = context.org.cloned();
    let program = context.program.map(str::to_owned);
    let nonce = begun.nonce;
    let verifier = begun.verifier;
    let now = state.clock.now();
    state
        .store
        .run(move |conn| {
            PendingLogin::insert(
                conn,
                &NewPendingLogin {
                    state_hash: &state_hash,
                    flow,
                    channel: channel.as_ref(),
                    browser_hash: &browser_hash,
                    nonce: &nonce,
                    pkce_verifier: &verifier,
                    org_id: org.as_ref(),
                    program_slug: program.as_deref(),
                },
                now,
            )
        })
        .await?;
    let cookie = Cookie::build(BROWSER_COOKIE, browser)
        .path("/")
        .http_only(true)
        .secure(state.config.secure_cookies)
        // Lax: the provider's redirect back is a top-level GET from
        // another site, which must carry it.
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(PENDING_LOGIN.num_seconds()))
        .finish();
    Ok(Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, begun.url))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish()))
}

/// A returned login, with the code to exchange. `Debug` is not derived.
pub struct Returned {
    /// The pending login, taken.
    pub pending: PendingLogin,
    /// The authorization code.
    pub code: String,
}

impl Returned {
    /// Exchanges the code with the PKCE verifier and verifies the ID token
    /// against the nonce this login sent, at `now`.
    pub async fn verify(
        &self,
        http: &crate::http::Http,
        provider: &Provider,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::provider::Verified, Refusal> {
        provider
            .finish(
                http,
                &self.code,
                &self.pending.pkce_verifier,
                &self.pending.nonce,
                now,
            )
            .await
            .map_err(Refusal::from)
    }
}

/// Takes the pending login a callback belongs to: it must exist (once),
/// be of this flow and channel, be younger than ten minutes and come back
/// to the browser that began it.
pub async fn take(
    state: &AppState,
    req: &HttpRequest,
    flow: Flow,
    channel: Option<&ChannelSlug>,
    q: CallbackQuery,
) -> Result<Result<Returned, Refusal>, AppError> {
    let Some(sent_state) = q.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Ok(Err(Refusal::State));
    };
    let state_hash = hash_token(&sent_state);
    let pending = state
        .store
        .run(move |conn| PendingLogin::take(conn, &state_hash))
        .await?;
    let Some(pending) = pending else {
        return Ok(Err(Refusal::State));
    };
    let browser_ok = req.cookie(BROWSER_COOKIE).is_some_and(|c| {
        bool::from(
            hash_token(c.value())
                .as_bytes()
                .ct_eq(pending.browser_hash.as_bytes()),
        )
    });
    let fresh = pending.created_at + PENDING_LOGIN >= state.clock.now();
    let same_flow = pending.flow()? == flow && pending.channel().as_ref() == channel;
    if !(browser_ok && fresh && same_flow) {
        return Ok(Err(Refusal::State));
    }
    // The person cancelled or the provider refused to authenticate: the
    // pending login is used up either way.
    if q.error.is_some() {
        return Ok(Err(Refusal::Cancelled));
    }
    match q.code.filter(|c| !c.is_empty() && c.len() <= 2048) {
        Some(code) => Ok(Ok(Returned { pending, code })),
        None => Ok(Err(Refusal::Token(Problem::Invalid))),
    }
}
