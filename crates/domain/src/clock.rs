//! The single source of "now".

use chrono::{DateTime, Utc};

/// Where every part of Mestring gets the current time.
///
/// Implementations return UTC truncated to whole microseconds, so a value
/// stored in either database compares equal after a round trip.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}
