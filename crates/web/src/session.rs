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
        self.account.id()
    }
}

impl FromRequest for UserSession {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("AppState missing"))?;
            let token = token.ok_or(AppError::LoginRequired)?;
            let hash = hash_token(&token);
            let limits = state.config.user_sessions;
            let now = state.clock.now();
            let lookup = hash.clone();
            let found = state
                .store
                .run(move |conn| SessionRow::resume(conn, &lookup, limits, now))
                .await?;
            match found {
                Some((_, account)) => Ok(UserSession {
                    account,
                    token_hash: hash,
                }),
                None => Err(AppError::LoginRequired),
            }
        })
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
}
