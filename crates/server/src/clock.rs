//! Clock implementations.

use chrono::{DateTime, SubsecRound, Utc};
use mestring_domain::clock::Clock;

/// The system's real time, truncated to microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// Reads "now" (RFC 3339) from a file on every call, so tests can move
/// time from outside. Only compiled with the `test-clock` feature.
#[cfg(feature = "test-clock")]
#[derive(Debug, Clone)]
pub struct FileClock(pub std::path::PathBuf);

#[cfg(feature = "test-clock")]
impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        // A test that points at a missing or garbled file gets real time
        // and a loud log line rather than a crash.
        match std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        {
            Some(t) => t.with_timezone(&Utc).trunc_subsecs(6),
            None => {
                tracing::error!("MESTRING_CLOCK_FILE unreadable; using system time");
                SystemClock.now()
            }
        }
    }
}

/// The clock the configuration asks for.
pub fn from_env() -> std::sync::Arc<dyn Clock> {
    #[cfg(feature = "test-clock")]
    if let Some(path) = std::env::var_os("MESTRING_CLOCK_FILE") {
        tracing::warn!("test clock active: time is read from MESTRING_CLOCK_FILE");
        return std::sync::Arc::new(FileClock(path.into()));
    }
    std::sync::Arc::new(SystemClock)
}
