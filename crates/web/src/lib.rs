//! Shared web plumbing: application state, sessions, CSRF, security
//! headers, the message catalog, error pages and the page context every
//! template receives.

pub mod access_log;
pub mod chart;
pub mod csrf;
pub mod error;
pub mod fmt;
pub mod headers;
pub mod i18n;
pub mod names;
pub mod page;
pub mod routes;
pub mod seal;
pub mod session;
pub mod state;
pub mod throttle;

pub use error::AppError;
pub use page::Ctx;
pub use state::{AppState, WebConfig};
