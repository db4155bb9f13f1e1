//! The context every page template receives.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use mestring_domain::content::Lang;

use crate::csrf::CsrfToken;
use crate::i18n::Catalog;

/// Name of the cookie that remembers the language choice. It holds only
/// `nb` or `en`, so it identifies nobody.
pub const LANG_COOKIE: &str = "mestring_lang";

/// Language, messages, CSRF token and login state for one request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The page language.
    pub lang: Lang,
    /// Messages in that language.
    pub tr: &'static Catalog,
    /// Token for forms on this page.
    pub csrf_token: String,
    /// The current path, for the language switch to come back to.
    pub path: String,
    /// Whether a user session is active (shows the logout button).
    pub logged_in: bool,
}

impl Ctx {
    /// Builds the context from a request.
    pub fn from_request(req: &HttpRequest) -> Self {
        let lang = req
            .cookie(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
            .unwrap_or(Lang::Nb);
        let csrf_token = req
            .extensions()
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        Self {
            lang,
            tr: Catalog::get(lang),
            csrf_token,
            path: req.path().to_owned(),
            logged_in: req.cookie(crate::session::SESSION_COOKIE).is_some(),
        }
    }

    /// Shorthand for the message with `key`.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.tr.t(key)
    }

    /// The language code for `<html lang>`.
    pub fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }

    /// The other language, offered by the switch in the header.
    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Nb => Lang::En.as_str(),
            Lang::En => Lang::Nb.as_str(),
        }
    }
}

impl FromRequest for Ctx {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Ctx::from_request(req)))
    }
}
