//! The context every page template receives.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use mestring_domain::content::Lang;

use crate::i18n::Catalog;
use crate::names::{CsrfToken, SESSION_COOKIE};

pub use crate::names::LANG_COOKIE;

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
        // A choice made with the switch wins; on the first visit the
        // browser's languages decide; bokmål otherwise.
        let lang = req
            .cookie(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
            .or_else(|| {
                req.headers()
                    .get(actix_web::http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
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
            logged_in: req.cookie(SESSION_COOKIE).is_some(),
        }
    }

    /// Shorthand for the message with `key`.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.tr.t(key)
    }

    /// The message for `key` with one `{name}` placeholder filled in.
    pub fn fill1(&self, key: &str, n1: &str, v1: impl std::fmt::Display) -> String {
        self.tr.fill(key, &[(n1, &v1.to_string())])
    }

    /// The message for `key` with two placeholders filled in.
    pub fn fill2(
        &self,
        key: &str,
        n1: &str,
        v1: impl std::fmt::Display,
        n2: &str,
        v2: impl std::fmt::Display,
    ) -> String {
        self.tr
            .fill(key, &[(n1, &v1.to_string()), (n2, &v2.to_string())])
    }

    /// The language code for `<html lang>`.
    pub fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }

    /// The other languages, offered by the switch in the header.
    pub fn other_langs(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| *l != self.lang).collect()
    }
}

/// A 200 HTML response.
pub fn html(body: String) -> actix_web::HttpResponse {
    html_status(actix_web::http::StatusCode::OK, body)
}

/// An HTML response with another status (e.g. 422 for a form with errors).
pub fn html_status(status: actix_web::http::StatusCode, body: String) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// A 303 redirect (Post/Redirect/Get).
pub fn see_other(location: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_owned()))
        .finish()
}

impl FromRequest for Ctx {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Ctx::from_request(req)))
    }
}
