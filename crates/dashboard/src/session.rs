//! Staff sessions: their own cookie and table, 15 minutes idle and 12
//! hours absolute (ASVS 4.0.3 3.3.2 L3, NIST AAL3), SameSite=Strict.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_store::sessions::SessionLimits;
use mestring_store::staff::{StaffHome, StaffRole, StaffRow};
use mestring_store::staff_sessions::StaffSessionRow;
use mestring_web::session::{SessionToken, hash_token};
use mestring_web::{AppError, AppState};

/// The staff session cookie.
pub const STAFF_COOKIE: &str = "mestring_staff";
/// The staff session limits.
pub fn limits() -> SessionLimits {
    mestring_domain::policy::session::STAFF
}

/// The cookie for a staff token: HttpOnly, SameSite=Strict, Secure on https.
pub fn cookie(token: &SessionToken, secure: bool) -> Cookie<'static> {
    let mut c = token.cookie(STAFF_COOKIE, secure);
    c.set_same_site(SameSite::Strict);
    c
}

/// A cookie that removes the staff cookie.
pub fn removal(secure: bool) -> Cookie<'static> {
    let mut c = mestring_web::session::removal_cookie(STAFF_COOKIE, secure);
    c.set_same_site(SameSite::Strict);
    c
}

/// Starts a session and returns its token.
pub async fn start(state: &AppState, staff: Id, verified: bool) -> Result<SessionToken, AppError> {
    let token = SessionToken::generate();
    let hash = token.hash();
    let now = state.clock.now();
    state
        .store
        .run(move |conn| StaffSessionRow::insert(conn, &hash, &staff, verified, now))
        .await?;
    Ok(token)
}

/// Where a login lands: the codes overview, or a tool manager's channel.
pub fn start_page(person: &StaffRow) -> &'static str {
    if person.role() == StaffRole::ToolManager {
        "/dashboard/channel"
    } else {
        "/dashboard"
    }
}

/// The live session behind the request's cookie, verified or not.
pub async fn lookup(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(StaffSessionRow, StaffRow)>, AppError> {
    let Some(token) = req.cookie(STAFF_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    let now = state.clock.now();
    Ok(state
        .store
        .run(move |conn| StaffSessionRow::resume(conn, &hash, limits(), now))
        .await?)
}

/// A logged-in (both factors) staff member of any role: the profile pages.
/// Extracting it re-reads the session and the account on every request,
/// so a deactivation or an expiry takes effect on the very next request.
#[derive(Debug, Clone)]
pub struct AnyStaff {
    /// The account.
    pub person: StaffRow,
    /// Hash of this session's token.
    pub token_hash: String,
    /// Where this person works.
    pub home: StaffHome,
}

impl AnyStaff {
    /// The staff id.
    pub fn id(&self) -> Id {
        self.person.id.clone()
    }
}

/// A logged-in clinician or superuser of an organisation: every page about
/// codes, users, sheets and access logs. A tool manager gets 404 here (the
/// pages are not theirs), never a redirect that would confirm they exist.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The account.
    pub person: StaffRow,
    /// Hash of this session's token.
    pub token_hash: String,
    org: Id,
}

impl Staff {
    /// Organisation staff from any staff; none for a tool manager.
    pub fn from_any(any: AnyStaff) -> Option<Self> {
        match any.home {
            StaffHome::Organisation(org) => Some(Staff {
                person: any.person,
                token_hash: any.token_hash,
                org,
            }),
            StaffHome::Channel(_) => None,
        }
    }

    /// The staff id.
    pub fn id(&self) -> Id {
        self.person.id.clone()
    }

    /// The organisation.
    pub fn org(&self) -> Id {
        self.org.clone()
    }

    /// Whether this person is a superuser.
    pub fn is_superuser(&self) -> bool {
        self.person.role() == StaffRole::Superuser
    }

    /// Refuses non-superusers (as 404: the page is not theirs).
    pub fn require_superuser(&self) -> Result<(), AppError> {
        if self.is_superuser() {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

/// A logged-in tool manager: the channel's aggregates and deletion records
/// only. Organisation staff get 404 on these pages.
#[derive(Debug, Clone)]
pub struct ToolManager {
    /// The account.
    pub person: StaffRow,
    /// The channel.
    pub channel: ChannelSlug,
}

fn to_login() -> actix_web::Error {
    InternalError::from_response(
        "staff login required",
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/staff/login"))
            .finish(),
    )
    .into()
}

async fn extract_any(req: HttpRequest) -> Result<AnyStaff, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("AppState missing"))?;
    match lookup(&state, &req).await? {
        Some((session, person)) if session.verified => {
            let home = person.home().map_err(AppError::from)?;
            Ok(AnyStaff {
                person,
                token_hash: session.token_hash,
                home,
            })
        }
        _ => Err(to_login()),
    }
}

impl FromRequest for AnyStaff {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(extract_any(req.clone()))
    }
}

impl FromRequest for Staff {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            Staff::from_any(extract_any(req).await?).ok_or_else(|| AppError::NotFound.into())
        })
    }
}

impl FromRequest for ToolManager {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let any = extract_any(req).await?;
            match any.home {
                StaffHome::Channel(channel) => Ok(ToolManager {
                    person: any.person,
                    channel,
                }),
                StaffHome::Organisation(_) => Err(AppError::NotFound.into()),
            }
        })
    }
}
