//! Simple pages: the front door, the overview, privacy, language choice.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use mestring_domain::content::Lang;
use mestring_web::page::LANG_COOKIE;
use mestring_web::page::html;
use mestring_web::session::{PendingUserSession, SESSION_COOKIE};
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

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

/// `GET /app`: the user's overview (program, continue, due measures,
/// latest results); see `program::home`.
pub async fn show_home(
    state: web::Data<AppState>,
    ctx: Ctx,
    pending: PendingUserSession,
    query: web::Query<crate::program::home::HomeQuery>,
) -> Result<HttpResponse, AppError> {
    crate::program::home::show(state, ctx, pending, query).await
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    ctx: Ctx,
    years: i32,
    idle: i64,
    absolute: i64,
    days: i64,
    renewal_weeks: u32,
    lapse_weeks: u32,
    aggregates_k: u32,
    delete_hours: i64,
    /// Private purchase (docs/payments.md): price and receipt-address limit.
    price: String,
    receipt_days: i64,
}

/// `GET /privacy`. Every number on the page is the constant (or setting)
/// the code itself uses.
pub async fn show_privacy(state: web::Data<AppState>, ctx: Ctx) -> Result<HttpResponse, AppError> {
    let page = PrivacyPage {
        ctx,
        years: mestring_domain::policy::code::LIFETIME_YEARS,
        idle: state.config.user_sessions.idle.num_minutes(),
        absolute: state.config.user_sessions.absolute.num_hours(),
        days: state.config.security_log_days,
        renewal_weeks: mestring_domain::policy::sharing::RENEWAL_QUESTION_WEEKS,
        lapse_weeks: mestring_domain::policy::sharing::LAPSE_WEEKS,
        aggregates_k: state.config.aggregates_k.get(),
        delete_hours: mestring_domain::policy::shredding::DELETION_BOUND.num_hours(),
        price: {
            let ore = mestring_domain::policy::purchase::PRICE_ORE;
            format!("{},{:02}", ore / 100, ore % 100)
        },
        receipt_days: mestring_domain::policy::purchase::RECEIPT_EMAIL_MAX.num_days(),
    };
    Ok(html(page.render()?))
}

/// Where to go after switching language.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Whether `next` is a path on this site that is safe to redirect to: it
/// starts with one `/` and holds only URL path characters. Browsers drop
/// TAB, CR and LF from URLs (so `/\t/evil` becomes `//evil`, another site),
/// and CR or LF cannot go in a header at all, so any control character,
/// space, backslash or non-ASCII character makes it unsafe.
pub fn is_local_path(next: &str) -> bool {
    let mut chars = next.chars();
    chars.next() == Some('/')
        && chars.next() != Some('/')
        && next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@?".contains(c))
}

/// `GET /lang/{lang}`: remembers the language in a cookie that holds only
/// the language code, then goes back.
pub async fn switch_language(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let lang = Lang::parse(&path).ok_or(AppError::NotFound)?;
    let next = q
        .next
        .as_deref()
        .filter(|n| is_local_path(n))
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

/// `GET /fhir/Questionnaire/{id}`: a shipped questionnaire as a FHIR R4
/// `Questionnaire`, so the canonical URL in an exported response resolves.
/// Public: it describes the instrument, not anyone's answers.
pub async fn fhir_questionnaire(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let q = state
        .content
        .questionnaire(&path.into_inner())
        .ok_or(AppError::NotFound)?;
    let resource = mestring_domain::fhir::questionnaire(q, &state.config.base_url, ctx.lang);
    Ok(HttpResponse::Ok()
        .content_type("application/fhir+json; charset=utf-8")
        .body(
            serde_json::to_string_pretty(&resource)
                .map_err(|e| AppError::internal(e.to_string()))?,
        ))
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_plain_local_paths_are_redirect_targets() {
        for ok in ["/", "/app", "/app/steps/x?step=2", "/app/results/01J%20x"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "app",
            "//evil.example",
            "/\\evil",
            "/\t/evil.example",
            "/\n/x",
            "/\r/x",
            "https://evil.example",
            "javascript:alert(1)",
            "/a b",
            "/æ",
            "/\u{0}",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Whatever `next` holds, a path accepted as a redirect target is
        /// local and can be sent as a `Location` header.
        #[test]
        fn an_accepted_target_is_local_and_a_valid_header(next in "\\PC{0,60}|/[ -~]{0,60}") {
            if is_local_path(&next) {
                proptest::prop_assert!(next.starts_with('/') && !next.starts_with("//"));
                proptest::prop_assert!(
                    actix_web::http::header::HeaderValue::from_str(&next).is_ok()
                );
                proptest::prop_assert!(!next.chars().any(|c| c.is_control() || c == ' ' || c == '\\'));
            }
        }
    }
}
