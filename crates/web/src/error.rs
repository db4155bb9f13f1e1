//! The web error type: a status and a user message, with the log message
//! kept apart.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use mestring_domain::content::Lang;
use mestring_store::StoreError;

use crate::i18n::Catalog;
use crate::page::Ctx;

/// Everything a handler can fail with. `Display` is for logs only and
/// never contains user data; what the user sees comes from the catalog.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No live session: go to the login page.
    #[error("login required")]
    LoginRequired,
    /// Nothing here (also used for other organisations' ids).
    #[error("not found")]
    NotFound,
    /// Refused (CSRF, cross-site, blocked).
    #[error("forbidden")]
    Forbidden,
    /// Unreadable request.
    #[error("bad request")]
    BadRequest,
    /// The request held a NUL character (U+0000), which no field accepts
    /// and PostgreSQL cannot store.
    #[error("bad request: NUL character")]
    NulCharacter,
    /// A method no route uses (CONNECT, PUT, …); refused before any body
    /// is read.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request body did not arrive in time.
    #[error("request body timed out")]
    RequestTimeout,
    /// Throttled; try again after this many seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
        /// The page to show.
        html: String,
    },
    /// The database cannot be reached right now (see
    /// [`StoreError::Unavailable`]): 503 with `Retry-After`, a plain page,
    /// and one warning in the log without the driver's details.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug; the message goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Seconds a client is asked to wait (`Retry-After`) while the database
/// is unavailable: about how long a restarting database takes to accept
/// connections again.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl AppError {
    /// An internal error with a log message.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(format!("template: {e}"))
    }
}

/// The bilingual error page (the error has no request, so it shows bokmål
/// first and English below).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: Ctx,
    title_key: &'a str,
    text_key: &'a str,
    en: &'static Catalog,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::LoginRequired => StatusCode::SEE_OTHER,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest | Self::NulCharacter => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title_key, text_key) = match self {
            Self::LoginRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/login"))
                    .finish();
            }
            Self::TooManyRequests {
                retry_after_secs,
                html,
            } => {
                return HttpResponse::TooManyRequests()
                    .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
                    .content_type(ContentType::html())
                    .body(html.clone());
            }
            Self::NotFound => ("error.not_found_title", "error.not_found"),
            Self::Forbidden => ("error.forbidden_title", "error.forbidden"),
            Self::BadRequest => ("error.bad_request_title", "error.bad_request"),
            Self::NulCharacter => ("error.bad_request_title", "error.nul_character"),
            Self::MethodNotAllowed => {
                return HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, HEAD, POST"))
                    .finish();
            }
            Self::RequestTimeout => ("error.timeout_title", "error.timeout"),
            Self::Unavailable(why) => {
                tracing::warn!(error = %why, "database unavailable");
                ("error.unavailable_title", "error.unavailable")
            }
            Self::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ("error.title", "error.internal")
            }
        };
        let page = ErrorPage {
            ctx: Ctx {
                lang: Lang::Nb,
                tr: Catalog::get(Lang::Nb),
                csrf_token: String::new(),
                path: "/".into(),
                logged_in: false,
            },
            title_key,
            text_key,
            en: Catalog::get(Lang::En),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "Noe gikk galt / Something went wrong".to_owned());
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unavailable(_)) {
            res.insert_header((
                header::RETRY_AFTER,
                UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            ));
        }
        res.content_type(ContentType::html()).body(body)
    }
}

/// The page shown with a 429.
#[derive(askama::Template)]
#[template(path = "throttled.html")]
struct ThrottledPage {
    ctx: Ctx,
    message: String,
}

/// The 429 answer to too many failed logins, in plain words, with
/// `Retry-After: secs`. Returned as an error so handlers can `?` it.
pub fn throttled(ctx: Ctx, secs: u64) -> Result<actix_web::HttpResponse, AppError> {
    use askama::Template as _;
    let message = ctx
        .tr
        .fill("login.throttled", &[("seconds", &secs.to_string())]);
    let html = ThrottledPage { ctx, message }.render()?;
    Err(AppError::TooManyRequests {
        retry_after_secs: secs,
        html,
    })
}
