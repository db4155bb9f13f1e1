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

/// POST paths exempt from the token check because each verifies a
/// signature over its raw body (`mestring_checkout`'s Stripe webhook).
pub const SIGNED_WEBHOOKS: &[&str] = &["/stripe/webhook"];

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

    // A payment provider's webhook cannot carry our token; it is
    // authenticated by its own signature over the raw body instead.
    let state_changing =
        req.method() == Method::POST && !SIGNED_WEBHOOKS.contains(&req.uri().path());
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

    use actix_web::middleware::from_fn;
    use actix_web::test as atest;
    use actix_web::{App, HttpRequest};
    use proptest::prelude::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Percent-encodes everything but unreserved characters.
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// Form bodies as an attacker writes them: fields, tokens, escapes
    /// (good, bad and NUL), raw bytes.
    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"csrf_token=".to_vec()),
            Just(TOKEN.as_bytes().to_vec()),
            Just(b"&".to_vec()),
            Just(b"=".to_vec()),
            Just(b"%00".to_vec()),
            Just(b"%0".to_vec()),
            Just(b"0".to_vec()),
            Just(b"%ff".to_vec()),
            Just(b"%zz".to_vec()),
            Just(b"+".to_vec()),
            Just(b"\0".to_vec()),
            Just(b"code".to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
        ];
        prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    /// A Cookie header value (visible ASCII, spaces and obs-text).
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff], 0..160)
    }

    /// Runs `req` through the guard in front of a handler that answers
    /// with the token the guard chose for the page.
    fn through_guard(req: atest::TestRequest) -> (u16, Vec<String>, String) {
        actix_web::rt::System::new().block_on(async move {
            let app = atest::init_service(App::new().wrap(from_fn(guard)).default_service(
                web::to(|req: HttpRequest| async move {
                    req.extensions()
                        .get::<CsrfToken>()
                        .map(|t| t.0.clone())
                        .unwrap_or_default()
                }),
            ))
            .await;
            let res = atest::call_service(&app, req.to_request()).await;
            let status = res.status().as_u16();
            let set: Vec<String> = res
                .response()
                .cookies()
                .filter(|c| c.name() == CSRF_COOKIE)
                .map(|c| c.value().to_owned())
                .collect();
            let body = atest::read_body(res).await;
            (status, set, String::from_utf8_lossy(&body).into_owned())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// The token is found wherever it stands among any other fields.
        #[test]
        fn the_token_is_found_among_any_fields(
            fields in prop::collection::vec(("[a-z_]{1,8}", any::<String>()), 0..8),
            at in any::<prop::sample::Index>(),
        ) {
            let mut pairs: Vec<String> = fields
                .iter()
                .filter(|(k, _)| k != CSRF_FIELD)
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            pairs.insert(at.index(pairs.len() + 1), format!("{CSRF_FIELD}={TOKEN}"));
            let body = pairs.join("&");
            let found = form_field(body.as_bytes(), CSRF_FIELD);
            prop_assert_eq!(found.as_deref(), Some(TOKEN));
        }

        /// Every NUL a form decoder could produce from a body is caught
        /// before the body reaches a handler (or the database).
        #[test]
        fn every_nul_the_form_decoder_could_see_is_caught(body in body_bytes()) {
            let decoded_nul = serde_urlencoded_pairs(&body)
                .is_some_and(|pairs| pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')));
            prop_assert!(!decoded_nul || has_nul(&body));
            // And the same through the encoder: a field holds NUL exactly
            // when its encoding is flagged.
            let text = String::from_utf8_lossy(&body);
            prop_assert_eq!(has_nul(enc(&text).as_bytes()), text.contains('\0'));
        }

        /// The check passes exactly a same-site form that echoes the cookie.
        #[test]
        fn only_a_same_site_form_echoing_the_cookie_passes(
            sent in prop_oneof![Just(TOKEN.to_owned()), "[0-9a-f]{0,70}", any::<String>()],
            site in prop_oneof![
                Just(None),
                Just(Some("same-origin".to_owned())),
                Just(Some("none".to_owned())),
                "[ -~]{0,12}".prop_map(Some),
            ],
            cookie in prop_oneof![Just(Some(TOKEN)), Just(None)],
        ) {
            let mut req = atest::TestRequest::post();
            if let Some(s) = &site {
                req = req.insert_header(("sec-fetch-site", s.as_str()));
            }
            let req = req.to_srv_request();
            let body = format!("a=1&{CSRF_FIELD}={}&b=2", enc(&sent));
            let verdict = check(&req, cookie, body.as_bytes());
            let same_site = site.as_deref().is_none_or(|s| s == "same-origin" || s == "none");
            prop_assert_eq!(verdict.is_ok(), same_site && cookie == Some(sent.as_str()));
        }

        /// Any Cookie header on a page: a page (never an error), and a CSRF
        /// cookie set only when the request had no well-formed one, always
        /// well formed itself.
        #[test]
        fn any_cookie_header_gets_a_page_and_a_well_formed_token(header in header_bytes()) {
            let value = actix_web::http::header::HeaderValue::from_bytes(&header).expect("valid header bytes");
            let (status, set, chosen) = through_guard(atest::TestRequest::get().insert_header(("cookie", value)));
            prop_assert_eq!(status, 200);
            prop_assert!(well_formed(&chosen), "the page's token is well formed");
            prop_assert!(set.len() <= 1);
            if let Some(new) = set.first() {
                prop_assert_eq!(new, &chosen);
            }
        }

        /// A well-formed token among other cookies is kept, not replaced.
        #[test]
        fn a_well_formed_token_among_other_cookies_is_kept(
            before in prop::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..4),
            after in prop::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..4),
        ) {
            let mut all = before.clone();
            all.push(format!("{CSRF_COOKIE}={TOKEN}"));
            all.extend(after);
            let (status, set, chosen) =
                through_guard(atest::TestRequest::get().insert_header(("cookie", all.join("; "))));
            prop_assert_eq!(status, 200);
            prop_assert!(set.is_empty(), "no new cookie: {:?}", set);
            prop_assert_eq!(chosen, TOKEN);
        }

        /// Any POST body: passed on only when it echoes the cookie and
        /// holds no NUL; otherwise a 4xx, never a 5xx.
        #[test]
        fn any_post_body_is_passed_on_only_with_the_token(body in body_bytes()) {
            let req = atest::TestRequest::post()
                .insert_header(("cookie", format!("{CSRF_COOKIE}={TOKEN}")))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body.clone());
            let (status, _, _) = through_guard(req);
            let passes = !has_nul(&body) && form_field(&body, CSRF_FIELD).as_deref() == Some(TOKEN);
            prop_assert!((400..500).contains(&status) || (status == 200 && passes), "{}", status);
            prop_assert_eq!(status == 200, passes);
        }
    }

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = new_token();
        assert!(well_formed(&a));
        assert_ne!(a, new_token());
        assert!(!well_formed("short"));
    }
}
