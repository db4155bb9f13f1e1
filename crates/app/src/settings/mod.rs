//! Settings: sharing consent, code rotation, export and self-delete.

use actix_web::web;

/// Registers the settings routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
