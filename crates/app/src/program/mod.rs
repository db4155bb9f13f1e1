//! Programs, modules, questionnaires, results, registrations and feedback.

use actix_web::web;

/// Registers the program routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
