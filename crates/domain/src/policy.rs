//! Every mission rule's number, in one place.
//!
//! Each section below is one rule family. Everything else in the workspace
//! (store, web crates, the IP layer, the server, the message catalogue, the
//! privacy page and the docs) reads these values; nothing spells them again.
//! Where a value is marked *default*, the server's typed configuration may
//! override it (validated at start, within the stated range); every other
//! value is fixed by this module.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};

/// Access codes: their format and how long they live.
pub mod code {
    /// Crockford's base32 alphabet (no I, L, O, U): easy to read and type
    /// from paper, case-insensitive.
    pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    /// Random symbols in a code.
    pub const DATA_SYMBOLS: usize = 15;
    /// Symbols in a code including the check symbol.
    pub const SYMBOLS: usize = DATA_SYMBOLS + 1;
    /// Bits of randomness in a code.
    pub const ENTROPY_BITS: usize = DATA_SYMBOLS * 5;
    // At least 75 bits of randomness; checked when compiling.
    const _: () = assert!(ENTROPY_BITS >= 75);
    /// Calendar years (Europe/Oslo) after creation or last login before a
    /// code stops working for good.
    pub const LIFETIME_YEARS: i32 = 5;
    /// Most codes on one printed sheet issued from the dashboard.
    pub const MAX_PER_SHEET: u32 = 100;
    /// Most codes one `mestring codes issue` run prints.
    pub const MAX_PER_CLI_ISSUE: u32 = 10_000;
}

/// Sharing with the issuing organisation: how long a "yes" lasts.
pub mod sharing {
    /// Weeks after sharing was last given or renewed at which the user is
    /// asked whether they still receive follow-up.
    pub const RENEWAL_QUESTION_WEEKS: u32 = 22;
    /// Weeks after sharing was last given or renewed at which it lapses
    /// when the question was not answered.
    pub const LAPSE_WEEKS: u32 = 26;
    // The question must come before the lapse, so there is time to answer.
    const _: () = assert!(RENEWAL_QUESTION_WEEKS < LAPSE_WEEKS);
}

/// How long a session may live: an idle limit and an absolute limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Inactivity after which the session ends.
    pub idle: Duration,
    /// Age after which the session ends regardless of activity.
    pub absolute: Duration,
}

impl SessionLimits {
    /// Whether a session created at `created` and last used at `last_seen`
    /// may still be used at `now` (both limits, to the second).
    pub fn allow(
        &self,
        created: DateTime<Utc>,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        now < last_seen + self.idle && now < created + self.absolute
    }
}

/// Session lifetimes for end users and staff.
pub mod session {
    use super::{Duration, SessionLimits};

    /// End users: 30 minutes idle, 12 hours at most.
    pub const USER: SessionLimits = SessionLimits {
        idle: Duration::minutes(30),
        absolute: Duration::hours(12),
    };
    /// Staff: 15 minutes idle (they see other people's data), 12 hours at
    /// most.
    pub const STAFF: SessionLimits = SessionLimits {
        idle: Duration::minutes(15),
        absolute: Duration::hours(12),
    };
    /// A staff login that passed the password step must finish the TOTP
    /// step within this time.
    pub const PENDING_STAFF_LOGIN: Duration = Duration::minutes(5);
    /// A session's "last seen" time is written at most this often, so a
    /// burst of page views costs one write, not one per view. The idle
    /// limit is therefore exact to within this slack.
    pub const TOUCH_SLACK: Duration = Duration::minutes(1);
}

/// Limits on failed logins: per source (IP tag), globally and per staff
/// account.
///
/// The per-tag limits follow ASVS 4.0.3 2.2.1 (no more than 100 failed
/// attempts per hour) and NIST SP 800-63B §5.2.2. An access code has no
/// account to lock, so the limit applies per source plus a global ceiling.
/// All counts are non-zero by type, so every combination is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins per tag per minute: a burst of this many, then one
    /// more every `60 s / n`. Default 10, so the 11th failure in a row is
    /// refused.
    pub per_tag_per_minute: NonZeroU32,
    /// Hard ceiling of failed logins per tag in any rolling hour. Default
    /// 100.
    pub per_tag_per_hour: NonZeroU32,
    /// Failed logins per second across all clients. Default 50: far above
    /// honest traffic, low enough to stop a distributed guessing run.
    pub global_per_second: NonZeroU32,
    /// Security events other than failed logins stored per tag and kind
    /// per minute; the excess is counted, not stored. Default 6.
    pub events_per_tag_per_minute: NonZeroU32,
    /// Such events stored per second across all clients. Default 100.
    pub events_global_per_second: NonZeroU32,
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        None => NonZeroU32::MIN,
    }
}

/// Throttles on failed logins.
pub mod throttle {
    use super::{Duration, LoginLimits, nz};

    /// The limits the server uses.
    pub const LOGIN: LoginLimits = LoginLimits {
        per_tag_per_minute: nz(10),
        per_tag_per_hour: nz(100),
        global_per_second: nz(50),
        events_per_tag_per_minute: nz(6),
        events_global_per_second: nz(100),
    };
    /// Failed password or TOTP attempts on one staff account in a rolling
    /// hour after which that account refuses every login attempt until the
    /// hour has passed (ASVS 4.0.3 2.2.1).
    pub const STAFF_FAILURES_PER_HOUR: i64 = 100;
    /// The rolling window of [`STAFF_FAILURES_PER_HOUR`].
    pub const STAFF_FAILURE_WINDOW: Duration = Duration::hours(1);
}

impl Default for LoginLimits {
    fn default() -> Self {
        throttle::LOGIN
    }
}

impl LoginLimits {
    /// The per-tag minute limit as a rate: a burst of `n`, then one more
    /// every `60 s / n`.
    pub fn per_tag_minute_rate(&self) -> crate::gcra::Rate {
        crate::gcra::Rate::per(Duration::minutes(1), self.per_tag_per_minute)
    }

    /// The per-tag hour limit as a rate: a burst of `ceil(n/2)`, the other
    /// `floor(n/2)` spread over the hour, so any 60-minute window admits at
    /// most `n`.
    pub fn per_tag_hour_rate(&self) -> crate::gcra::Rate {
        let n = self.per_tag_per_hour.get();
        let burst = n.div_ceil(2);
        let rest = i64::from(n - burst);
        let every = if rest == 0 {
            Duration::hours(2)
        } else {
            Duration::microseconds(Duration::hours(1).num_microseconds().unwrap_or(0) / rest)
        };
        crate::gcra::Rate::new(every, nz(burst))
    }

    /// The global limit on failed logins as a rate: a burst of `n`, then
    /// one more every `1 s / n`.
    pub fn global_rate(&self) -> crate::gcra::Rate {
        crate::gcra::Rate::per(Duration::seconds(1), self.global_per_second)
    }
}

/// How long stored things live before they are deleted.
pub mod retention {
    use super::Duration;

    /// Default days a sealed security-log row is kept (configurable 1 to
    /// [`SECURITY_LOG_MAX_DAYS`]).
    pub const SECURITY_LOG_DAYS: i64 = 30;
    /// The longest security-log retention the configuration accepts.
    pub const SECURITY_LOG_MAX_DAYS: i64 = 365;
    /// A daily IP-tag key is destroyed this long after it was made, so
    /// tags from different days cannot be linked after that.
    pub const TAG_KEY: Duration = Duration::hours(48);
    /// A staff invitation link works this long.
    pub const INVITATION: Duration = Duration::hours(72);
    /// How long a feedback item is kept after the operator handled it
    /// (corrected or closed). Users type free text there, which may
    /// identify them, so a handled item does not stay for ever; unhandled
    /// items stay until handled or until the account is deleted.
    pub const HANDLED_FEEDBACK: Duration = Duration::days(90);
}

/// Private purchase (docs/payments.md): what a bought code costs and how
/// long anything about the buyer is kept.
pub mod purchase {
    use super::Duration;

    /// The price of one code for one program, in øre (NOK 1 = 100 øre),
    /// VAT included.
    pub const PRICE_ORE: i64 = 49_000;
    /// The VAT rate included in the price, in percent (shown on the
    /// receipt).
    pub const VAT_PERCENT: i64 = 25;
    /// The currency, as Stripe spells it.
    pub const CURRENCY: &str = "nok";
    /// A receipt address that could not be used for this long is erased
    /// unsent.
    pub const RECEIPT_EMAIL_MAX: Duration = Duration::days(7);
    /// How often an unsent receipt is tried again (by the maintenance
    /// sweep, which runs hourly).
    pub const RECEIPT_RETRY: Duration = Duration::hours(1);
    /// The longest receipt address accepted (RFC 5321's path limit).
    pub const EMAIL_MAX_CHARS: usize = 254;

    /// The VAT part of a VAT-inclusive price, rounded to the øre.
    pub fn vat_ore(price_ore: i64) -> i64 {
        // price = net * (100 + p) / 100, so vat = price * p / (100 + p).
        (price_ore * VAT_PERCENT + (100 + VAT_PERCENT) / 2) / (100 + VAT_PERCENT)
    }
}

/// Crypto-shredding: how soon a deleted account's data is unreadable in
/// every copy (docs/deletion.md).
pub mod shredding {
    use super::Duration;

    /// A key-encryption key is current this long; then a new one takes
    /// over and every live data key is re-wrapped under it.
    pub const ROTATE_EVERY: Duration = Duration::hours(12);
    /// A retired key-encryption key is destroyed once it has been retired
    /// this long and no data key is wrapped under it. Longer than
    /// [`RING_RELOAD_SECS`], so every process has seen its successor and
    /// none wraps a new key under it any more.
    pub const RETIRED_GRACE: Duration = Duration::minutes(10);
    /// A process re-reads the key-encryption keys at least this often.
    pub const RING_RELOAD_SECS: u64 = 60;
    /// The longest time the maintenance sweep waits between runs.
    pub const SWEEP_EVERY: Duration = Duration::hours(1);
    /// The promise: a deleted account's data key can no longer be opened
    /// from any copy this long after the deletion (the primary's files,
    /// the WAL, archives; backups keep their own KEKs, see the docs).
    pub const DELETION_BOUND: Duration = Duration::hours(24);
    // A key wrapped just before deletion is retired within ROTATE_EVERY,
    // destroyed by the first sweep after the grace: within the bound.
    const _: () = assert!(
        ROTATE_EVERY.num_seconds() + RETIRED_GRACE.num_seconds() + SWEEP_EVERY.num_seconds()
            < DELETION_BOUND.num_seconds()
    );
    const _: () = assert!(RETIRED_GRACE.num_seconds() > RING_RELOAD_SECS as i64 * 2);
    /// Data keys re-wrapped per transaction during rotation.
    pub const REWRAP_BATCH: i64 = 500;
}

/// What the clinician's overview shows of users who share.
pub mod clinician {
    /// The questionnaires summarised per row, in column order.
    pub const OVERVIEW_QUESTIONNAIRES: [&str; 2] = ["phq9", "gad7"];
    /// The flag raised by PHQ-9 item 9 above 0 (defined in the content).
    pub const ITEM9_FLAG: &str = "suicidal-ideation";
    /// "Recent": registrations counted and inactivity judged over this
    /// many days.
    pub const RECENT_DAYS: i64 = 14;
}

/// Coarse activity (time spent per day).
pub mod activity {
    use super::{Duration, session};

    /// Time spent is counted in steps of this many minutes.
    pub const MINUTE_STEP: i64 = 5;
    /// The longest gap between page views still counted as time spent:
    /// the end-user session's idle limit.
    pub const MAX_GAP: Duration = session::USER.idle;
}

/// Staff passwords and their hashing.
pub mod password {
    /// Fewest characters a password may have (ASVS 4.0.3 2.1.1).
    pub const MIN_CHARS: usize = 12;
    /// Most characters accepted; longer input is refused, not truncated
    /// (ASVS 4.0.3 2.1.2).
    pub const MAX_CHARS: usize = 128;
    /// Argon2id memory in KiB (ASVS 5.0 appendix C: m=19456, t=2, p=1).
    pub const ARGON2_M_KIB: u32 = 19_456;
    /// Argon2id iterations.
    pub const ARGON2_T: u32 = 2;
    /// Argon2id lanes.
    pub const ARGON2_P: u32 = 1;
    /// Hashes computed at once, at most (each takes ~19 MiB).
    pub const MAX_CONCURRENT_HASHES: usize = 2;
}

/// Group data (aggregates): small-cell suppression.
pub mod aggregates {
    /// Smallest number of people a published count may describe (k). Cells
    /// with 1 to k-1 people are hidden.
    pub const DEFAULT_K: u32 = 5;
    /// k may be configured upward only: below this the promise is not kept.
    pub const MIN_K: u32 = DEFAULT_K;
    /// Calendar months (Europe/Oslo) shown in period tables, the current
    /// one included.
    pub const MONTHS_SHOWN: u32 = 12;
}

#[cfg(test)]
mod tests {

    mod rates {
        use crate::gcra::{Rate, step};
        use crate::policy::throttle::LOGIN;
        use chrono::{DateTime, Duration, Utc};

        fn t0() -> DateTime<Utc> {
            DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
        }

        /// Feeds `n` cells at the same instant; how many were allowed.
        fn burst_at(
            rate: Rate,
            tat: &mut Option<DateTime<Utc>>,
            now: DateTime<Utc>,
            n: u32,
        ) -> u32 {
            let mut allowed = 0;
            for _ in 0..n {
                if let Ok(next) = step(rate, *tat, now) {
                    *tat = Some(next);
                    allowed += 1;
                }
            }
            allowed
        }

        #[test]
        fn ten_a_minute_allows_ten_then_one_every_six_seconds() {
            let rate = LOGIN.per_tag_minute_rate();
            assert_eq!(rate.every(), Duration::seconds(6));
            let mut tat = None;
            assert_eq!(burst_at(rate, &mut tat, t0(), 20), 10);
            let refused = step(rate, tat, t0()).expect_err("11th refused");
            assert_eq!(refused, t0() + Duration::seconds(6));
            assert_eq!(burst_at(rate, &mut tat, t0() + Duration::seconds(6), 5), 1);
            assert_eq!(
                burst_at(rate, &mut tat, t0() + Duration::seconds(66), 20),
                10
            );
        }

        #[test]
        fn the_hourly_rate_admits_at_most_its_limit_in_any_hour() {
            let rate = LOGIN.per_tag_hour_rate();
            let mut tat = None;
            // One attempt every 10 s for two hours: count per rolling hour.
            let mut allowed = Vec::new();
            for i in 0..720 {
                let now = t0() + Duration::seconds(i * 10);
                if let Ok(next) = step(rate, tat, now) {
                    tat = Some(next);
                    allowed.push(now);
                }
            }
            for (i, start) in allowed.iter().enumerate() {
                let in_hour = allowed[i..]
                    .iter()
                    .take_while(|t| **t < *start + Duration::hours(1))
                    .count();
                assert!(in_hour <= 100, "{in_hour} in the hour from {start}");
            }
            assert!(
                allowed.len() >= 140,
                "the rate replenishes: {}",
                allowed.len()
            );
        }
    }
    use super::*;

    #[test]
    fn sessions_allow_until_either_limit() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("valid");
        let l = session::USER;
        assert!(l.allow(t0, t0, t0 + l.idle - Duration::seconds(1)));
        assert!(!l.allow(t0, t0, t0 + l.idle));
        let late = t0 + l.absolute;
        assert!(!l.allow(t0, late - Duration::seconds(1), late));
    }

    #[test]
    fn activity_gap_is_the_user_idle_limit() {
        assert_eq!(activity::MAX_GAP, session::USER.idle);
    }

    #[test]
    fn vat_is_the_included_part_of_the_price() {
        assert_eq!(purchase::vat_ore(12_500), 2_500);
        assert_eq!(purchase::vat_ore(purchase::PRICE_ORE), 9_800);
        assert_eq!(purchase::vat_ore(0), 0);
    }

    #[test]
    fn default_login_limits_are_the_documented_ones() {
        let l = LoginLimits::default();
        assert_eq!(l.per_tag_per_minute.get(), 10);
        assert_eq!(l.per_tag_per_hour.get(), 100);
        assert_eq!(l.global_per_second.get(), 50);
    }
}

/// OpenID Connect logins (docs/oidc.md): the portal launch and HelseID.
pub mod oidc {
    use super::Duration;

    /// Assurance of an identity (eIDAS levels, as HelseID states them);
    /// parsing and the staff gate are in [`crate::oidc`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Assurance {
        /// "low" (lav), or security level 1–2.
        Low,
        /// "substantial" (betydelig), or security level 3.
        Substantial,
        /// "high" (høy), or security level 4.
        High,
    }

    /// A login begun at an identity provider must come back this soon;
    /// older `state`s are refused and purged.
    pub const PENDING_LOGIN: Duration = Duration::minutes(10);
    /// The lowest HelseID assurance level a staff login accepts
    /// (eIDAS "substantial", Norwegian "betydelig").
    pub const MIN_STAFF_ASSURANCE: Assurance = Assurance::Substantial;
    /// Claim names (the part after the last `:` or `/`, lower case) that
    /// carry a national identity number. A portal token with one is
    /// refused; HelseID's is ignored and never stored.
    pub const NATIONAL_ID_CLAIMS: &[&str] = &[
        "pid",
        "fodselsnummer",
        "fnr",
        "personnummer",
        "nin",
        "ssn",
        "national_id",
        "national_identity_number",
    ];
    /// Claim names that carry a person's name.
    pub const NAME_CLAIMS: &[&str] = &[
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
    ];
    /// Other claims that describe the person (OpenID Connect §5.1).
    pub const PERSONAL_CLAIMS: &[&str] = &[
        "birthdate",
        "email",
        "phone_number",
        "address",
        "gender",
        "picture",
        "profile",
    ];
    /// Fragments that mark a representation relation anywhere in a claim
    /// name (a parent or a holder of power of attorney acting for the
    /// patient), plus RFC 8693's actor claim `act` as an exact name.
    pub const REPRESENTATION_MARKERS: &[&str] = &["represent", "fullmakt", "on_behalf", "onbehalf"];
    /// Longest `sub` accepted (OpenID Connect allows 255 ASCII characters).
    pub const SUBJECT_MAX_CHARS: usize = 255;
}
