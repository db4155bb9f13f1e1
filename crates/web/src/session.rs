//! End-user sessions: a random token in an HttpOnly cookie, stored only as
//! its SHA-256.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use mestring_domain::id::Id;
use mestring_store::accounts::AccountRow;
use mestring_store::sessions::SessionRow;
use mestring_store::{DbConn, StoreError};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::AppState;

pub use crate::names::SESSION_COOKIE;

/// A fresh session token: 256 bits from the OS CSPRNG, hex-encoded.
/// `Debug` is redacted; the value only ever goes into `Set-Cookie`.
pub struct SessionToken(String);

impl SessionToken {
    /// Draws a new token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// What the database stores for this token.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }

    /// The cookie carrying this token.
    pub fn cookie(&self, name: &'static str, secure: bool) -> Cookie<'static> {
        Cookie::build(name, self.0.clone())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .finish()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

/// SHA-256 of a token, hex. Tokens have 256 bits of entropy, so a plain
/// hash is enough to make a stolen database useless for hijacking.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A cookie that removes `name` from the browser.
pub fn removal_cookie(name: &'static str, secure: bool) -> Cookie<'static> {
    Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::ZERO)
        .finish()
}

/// Starts a session for `account` and returns the token for the cookie.
pub async fn start(state: &AppState, account: Id) -> Result<SessionToken, AppError> {
    let token = SessionToken::generate();
    let hash = token.hash();
    let now = state.clock.now();
    state
        .store
        .run(move |conn| SessionRow::insert(conn, &hash, &account, now))
        .await?;
    Ok(token)
}

/// A logged-in end user. Extracting it from a request that has no live
/// session redirects to the login page.
#[derive(Debug, Clone)]
pub struct UserSession {
    /// The account.
    pub account: AccountRow,
    /// Hash of this session's token (to spare it when ending the others).
    pub token_hash: String,
}

impl UserSession {
    /// The account's id.
    pub fn account_id(&self) -> Id {
        self.account.id.clone()
    }
}

impl FromRequest for UserSession {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = PendingUserSession::from_cookie(req);
        Box::pin(async move {
            let (pending, state) = found?;
            state
                .store
                .run(move |conn| pending.resume(conn))
                .await?
                .ok_or(AppError::LoginRequired)
        })
    }
}

/// A session cookie not yet looked up, for a page that resumes the session
/// in the same trip to the database as its own reads (one trip through the
/// blocking pool and the connection pool instead of two; see
/// BENCHMARKS.md). Resuming follows the same rule as extracting a
/// [`UserSession`]: [`SessionRow::resume`] at the moment of extraction.
/// Extracting it without a session cookie redirects to the login page.
pub struct PendingUserSession {
    token_hash: String,
    limits: mestring_domain::policy::SessionLimits,
    now: chrono::DateTime<chrono::Utc>,
}

impl PendingUserSession {
    /// The pending session and the state it was read with (the extractor
    /// of [`UserSession`] goes on to the store with it).
    fn from_cookie(req: &HttpRequest) -> Result<(Self, web::Data<AppState>), AppError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::internal("AppState missing"))?;
        let token = req.cookie(SESSION_COOKIE).ok_or(AppError::LoginRequired)?;
        let pending = Self {
            token_hash: hash_token(token.value()),
            limits: state.config.user_sessions,
            now: state.clock.now(),
        };
        Ok((pending, state))
    }

    /// The live session, or `None` when it has ended (the caller answers
    /// [`AppError::LoginRequired`]). Call it first in the page's trip.
    pub fn resume(self, conn: &mut DbConn) -> Result<Option<UserSession>, StoreError> {
        let found = SessionRow::resume(conn, &self.token_hash, self.limits, self.now)?;
        Ok(found.map(|(_, account)| UserSession {
            account,
            token_hash: self.token_hash,
        }))
    }

    /// As [`Self::resume`], and whether the account still logs in with the
    /// code its organisation issued, in the same statement
    /// ([`SessionRow::resume_noting_issued_code`]).
    pub fn resume_noting_issued_code(
        self,
        conn: &mut DbConn,
    ) -> Result<Option<(UserSession, bool)>, StoreError> {
        let found =
            SessionRow::resume_noting_issued_code(conn, &self.token_hash, self.limits, self.now)?;
        Ok(found.map(|(_, account, issued)| {
            let user = UserSession {
                account,
                token_hash: self.token_hash,
            };
            (user, issued)
        }))
    }
}

impl std::fmt::Debug for PendingUserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingUserSession([REDACTED])")
    }
}

impl FromRequest for PendingUserSession {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_cookie(req).map(|(pending, _)| pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_redacted() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.0, b.0);
        assert_eq!(a.0.len(), 64);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.0);
        assert_eq!(format!("{a:?}"), "SessionToken([REDACTED])");
    }

    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    /// A Cookie header value as a client may send it (visible ASCII,
    /// spaces and obs-text bytes).
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff], 0..160)
    }

    proptest! {
        /// Whatever the session cookie holds, the store is asked for a
        /// 64-hex-digit hash, never for the value itself.
        #[test]
        fn any_session_cookie_becomes_a_fixed_shape_lookup_key(header in header_bytes()) {
            let value = HeaderValue::from_bytes(&header).expect("valid header bytes");
            let req = TestRequest::default().insert_header(("cookie", value)).to_http_request();
            if let Some(c) = req.cookie(SESSION_COOKIE) {
                let key = hash_token(c.value());
                prop_assert_eq!(key.len(), 64);
                prop_assert!(key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                prop_assert!(c.value().len() < 8 || !key.contains(c.value()));
            }
        }

        /// A session cookie among any others is read back exactly as set.
        #[test]
        fn the_session_cookie_is_found_among_others(
            before in prop::collection::vec("[a-z_]{1,8}=[!#-+\\--:<-\\[\\]-~]{0,8}", 0..4),
            after in prop::collection::vec("[a-z_]{1,8}=[!#-+\\--:<-\\[\\]-~]{0,8}", 0..4),
        ) {
            prop_assume!(before.iter().all(|c| !c.starts_with(&format!("{SESSION_COOKIE}="))));
            let token = SessionToken::generate();
            let set = token.cookie(SESSION_COOKIE, true);
            let mut all = before;
            all.push(format!("{}={}", set.name(), set.value()));
            all.extend(after);
            let req = TestRequest::default()
                .insert_header(("cookie", all.join("; ")))
                .to_http_request();
            let found = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
            prop_assert_eq!(found.as_deref(), Some(token.0.as_str()));
            prop_assert_eq!(hash_token(&token.0), token.hash());
        }

        /// The language cookie and `Accept-Language` are client input too:
        /// any pair gives a page, in the cookie's language if it names one,
        /// else the header's best, else bokmål.
        #[test]
        fn any_language_cookie_or_header_picks_by_precedence(
            lang in proptest::option::of("[a-zA-Z_\\-]{0,8}"),
            others in header_bytes(),
            accept in header_bytes(),
        ) {
            use mestring_domain::content::Lang;
            // Other cookies first: arbitrary bytes, cut at a separator.
            let name = crate::names::LANG_COOKIE.as_bytes();
            prop_assume!(!others.windows(name.len()).any(|w| w == name));
            let mut cookie = others.clone();
            cookie.retain(|b| *b != b';');
            if let Some(l) = &lang {
                cookie.extend_from_slice(format!("; {}={l}", crate::names::LANG_COOKIE).as_bytes());
            }
            let accept_value = HeaderValue::from_bytes(&accept).expect("bytes");
            let req = TestRequest::default()
                .insert_header(("cookie", HeaderValue::from_bytes(&cookie).expect("bytes")))
                .insert_header(("accept-language", accept_value.clone()))
                .to_http_request();
            // A Cookie header with bytes outside visible ASCII is not read
            // at all (actix's `to_str`), so its language cookie cannot count.
            let readable = HeaderValue::from_bytes(&cookie).expect("bytes").to_str().is_ok();
            let expected = lang
                .as_deref()
                .filter(|_| readable)
                .and_then(Lang::parse)
                .or_else(|| accept_value.to_str().ok().and_then(Lang::from_accept_language))
                .unwrap_or(Lang::Nb);
            prop_assert_eq!(crate::page::Ctx::from_request(&req).lang, expected);
        }
    }
}
