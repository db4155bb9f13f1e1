//! Cookie and form-field names and the per-response CSRF token: the small
//! shared vocabulary of the web modules. A leaf: it uses no other module of
//! this crate, so `page`, `csrf`, `session` and `error` can all use it
//! without depending on each other.

/// The end-user session cookie.
pub const SESSION_COOKIE: &str = "mestring_session";
/// The cookie holding the CSRF secret.
pub const CSRF_COOKIE: &str = "mestring_csrf";
/// The form field that must echo it.
pub const CSRF_FIELD: &str = "csrf_token";
/// The cookie holding the chosen language.
pub const LANG_COOKIE: &str = "mestring_lang";

/// The token forms on this response must carry (request extension).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);
