//! Simple pages: the front door, the overview, privacy, language choice.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use mestring_domain::content::Lang;
use mestring_web::page::LANG_COOKIE;
use mestring_web::session::{SESSION_COOKIE, UserSession};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// `GET /`: to the overview when logged in, else to login.
pub async fn index(req: HttpRequest) -> HttpResponse {
    let to = if req.cookie(SESSION_COOKIE).is_some() {
        "/app"
    } else {
        "/login"
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[derive(Template)]
#[template(path = "app_home.html")]
struct HomePage {
    ctx: Ctx,
    program: Option<String>,
}

/// `GET /app`: the user's overview.
pub async fn show_home(ctx: Ctx, user: UserSession) -> Result<HttpResponse, AppError> {
    let page = HomePage {
        ctx,
        program: user.account.program_slug.clone(),
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    ctx: Ctx,
}

/// `GET /privacy`.
pub async fn show_privacy(ctx: Ctx) -> Result<HttpResponse, AppError> {
    Ok(html(PrivacyPage { ctx }.render()?))
}

/// Where to go after switching language.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /lang/{lang}`: remembers the language in a cookie that holds only
/// the language code, then goes back.
pub async fn switch_language(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let lang = Lang::parse(&path).ok_or(AppError::NotFound)?;
    // Only local paths: never an open redirect.
    let next = q
        .next
        .as_deref()
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/");
    let cookie = Cookie::build(LANG_COOKIE, lang.as_str())
        .path("/")
        .secure(state.config.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::days(365))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie)
        .finish())
}
