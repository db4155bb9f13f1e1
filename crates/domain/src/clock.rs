//! The single source of "now".

use chrono::{DateTime, SubsecRound, Utc};

/// Where every part of Mestring gets the current time.
///
/// Implementations return UTC truncated to whole microseconds, so a value
/// stored in either database compares equal after a round trip.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that always returns the same instant; for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.trunc_subsecs(6)
    }
}
