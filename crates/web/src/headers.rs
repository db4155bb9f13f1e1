//! Security headers on every response.

use actix_web::middleware::DefaultHeaders;

/// The Content-Security-Policy: nothing but our own origin, no plugins,
/// no `<base>`, no framing.
pub const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Headers added to every response that does not set them itself.
/// `Cache-Control: no-store` is the default because almost every page is
/// personal; the stylesheet sets its own caching.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cache-Control", "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ))
}
