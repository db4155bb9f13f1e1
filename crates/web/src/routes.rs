//! Routes as data: each area crate lists its routes in a table of
//! [`RouteDef`]s, and the server registers exactly that table. The same
//! table is what the malformed-input suite walks, so a route added to a
//! table is tested without editing the suite, and there is no other way to
//! add one (a test in the server crate scans the sources for registrations
//! outside this module).

use actix_web::web;

/// The HTTP method of a route. The app only ever routes GET and POST; the
/// CSRF middleware answers 405 to every other method before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET (and HEAD, which actix answers from the GET route).
    Get,
    /// POST: every one passes the CSRF check first.
    Post,
}

impl Verb {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// Who may use a route. The handler's extractors enforce it (this value
/// only describes them); the malformed-input suite checks that a client
/// without the session never gets a 2xx page from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed (login pages, invitations, health checks, ...).
    Public,
    /// An end user's session (`UserSession`); without one, a redirect to
    /// `/login`.
    User,
    /// A verified staff session of some role; which roles may see the page
    /// (organisation staff, superuser, tool manager) is the handler's
    /// check, and the others get 404.
    Staff,
}

/// One route: method, actix path pattern, who may use it, and the handler.
#[derive(Clone, Copy)]
pub struct RouteDef {
    /// The method.
    pub verb: Verb,
    /// The actix pattern, e.g. `/app/results/{response_id}`.
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    to: fn(actix_web::Route) -> actix_web::Route,
}

impl RouteDef {
    /// A route whose handler is attached by `to` (see [`route!`](crate::route)).
    pub const fn new(
        verb: Verb,
        path: &'static str,
        access: Access,
        to: fn(actix_web::Route) -> actix_web::Route,
    ) -> Self {
        Self {
            verb,
            path,
            access,
            to,
        }
    }

    /// Registers this route.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        let method = match self.verb {
            Verb::Get => web::get(),
            Verb::Post => web::post(),
        };
        cfg.route(self.path, (self.to)(method));
    }
}

impl std::fmt::Debug for RouteDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({:?})",
            self.verb.as_str(),
            self.path,
            self.access
        )
    }
}

/// Registers every route of `table`, in order (actix tries routes in the
/// order they were registered).
pub fn register_all(cfg: &mut web::ServiceConfig, table: &[RouteDef]) {
    for route in table {
        route.register(cfg);
    }
}

/// A [`RouteDef`] entry: `route!(Get, "/login", Public, login::show_login)`.
#[macro_export]
macro_rules! route {
    ($verb:ident, $path:literal, $access:ident, $handler:path) => {
        $crate::routes::RouteDef::new(
            $crate::routes::Verb::$verb,
            $path,
            $crate::routes::Access::$access,
            |r: ::actix_web::Route| r.to($handler),
        )
    };
}
