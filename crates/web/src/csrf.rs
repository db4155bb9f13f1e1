//! CSRF defence for every state-changing request.
//!
//! Two layers: browsers that send `Sec-Fetch-Site` must say the request is
//! same-origin (or user-initiated, `none`); and every POST form must carry
//! a `csrf_token` equal to the `mestring_csrf` cookie (double submit, with
//! a SameSite=Lax, HttpOnly cookie). The check runs in one middleware so no
//! handler can forget it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::state::AppState;

pub use crate::names::{CSRF_COOKIE, CSRF_FIELD, CsrfToken};

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a request failed the CSRF check (for the security log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    CrossSite,
    MissingCookie,
    Mismatch,
}

/// The middleware; wrap the whole app with `from_fn(csrf::guard)`.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let existing = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| well_formed(t));
    let token = existing.clone().unwrap_or_else(new_token);
    req.extensions_mut().insert(CsrfToken(token.clone()));

    // Methods no route uses are refused before any body is read (CONNECT
    // and friends would otherwise hold a connection while the body
    // trickles in).
    if !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::POST | Method::OPTIONS
    ) {
        let resp = AppError::MethodNotAllowed.error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    // NUL in the path or query: refused at the edge, for every route.
    if has_nul(req.uri().path().as_bytes())
        || req.uri().query().is_some_and(|q| has_nul(q.as_bytes()))
    {
        let resp = AppError::NulCharacter.error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }

    let state_changing = req.method() == Method::POST;
    if state_changing {
        let body = match read_body(&mut req).await {
            Ok(body) if has_nul(&body) => Err(AppError::NulCharacter),
            other => other,
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                let resp = e.error_response();
                return Ok(req.into_response(resp).map_into_right_body());
            }
        };
        let verdict = check(&req, existing.as_deref(), &body);
        // Put the body back for the handler's own extractor.
        req.set_payload(bytes_to_payload(body));
        if let Err(why) = verdict {
            tracing::warn!(reason = ?why, "request refused by CSRF check");
            if let Some(state) = req.app_data::<web::Data<AppState>>()
                && let Some(ip) = req.extensions().get::<mestring_ipcrypt::RequestIp>()
            {
                state
                    .ip
                    .record_event(ip, mestring_ipcrypt::SecurityEventKind::BadCsrf);
            }
            let resp = AppError::Forbidden.error_response();
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }

    let secure = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.secure_cookies);
    let mut res = next.call(req).await?;
    if existing.is_none() {
        let cookie = Cookie::build(CSRF_COOKIE, token)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .finish();
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res.map_into_left_body())
}

/// Checks fetch metadata and that the form `body` echoes the cookie.
fn check(req: &ServiceRequest, cookie: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    if let Some(site) = req.headers().get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return Err(Rejection::CrossSite);
    }
    let cookie = cookie.ok_or(Rejection::MissingCookie)?;
    let sent = form_field(body, CSRF_FIELD).unwrap_or_default();
    if sent.len() == cookie.len() && bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())) {
        Ok(())
    } else {
        Err(Rejection::Mismatch)
    }
}

/// How long a request body may take to arrive in full.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the whole body within [`BODY_DEADLINE`] (408 otherwise); the
/// size limit is the form limit the app configures.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, AppError> {
    match tokio::time::timeout(BODY_DEADLINE, req.extract::<web::Bytes>()).await {
        Err(_) => Err(AppError::RequestTimeout),
        Ok(Err(_)) => Err(AppError::BadRequest),
        Ok(Ok(body)) => Ok(body),
    }
}

/// Whether `bytes` hold a NUL character, raw or percent-encoded.
fn has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0)
        || bytes
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded_pairs(body).unwrap_or_default()
}

fn serde_urlencoded_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    web::Query::<Vec<(String, String)>>::from_query(text)
        .ok()
        .map(web::Query::into_inner)
}

fn bytes_to_payload(buf: web::Bytes) -> Payload {
    let (_, mut pl) = actix_http::h1::Payload::create(true);
    pl.unread_data(buf);
    Payload::from(pl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_among_fields() {
        let body = b"code=ABCD&csrf_token=abc123&x=1";
        assert_eq!(form_field(body, CSRF_FIELD).as_deref(), Some("abc123"));
        assert_eq!(form_field(b"code=1", CSRF_FIELD), None);
    }

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = new_token();
        assert!(well_formed(&a));
        assert_ne!(a, new_token());
        assert!(!well_formed("short"));
    }
}
