//! The sharing-consent timeline (promise 3 in docs/architecture.md): whether the organisation that
//! issued a user's code may see that user's data, as a pure function of the
//! recorded consent history and "now".
//!
//! The rules:
//!
//! * A user whose code was issued by an organisation is asked at first login
//!   ([`SharingState::NeverAsked`]). They may give or withdraw sharing at any
//!   time afterwards.
//! * [`RENEWAL_QUESTION_WEEKS`] after sharing was last given or
//!   renewed, the next visit asks whether they still receive follow-up. "Yes"
//!   renews (a new period starts at that instant), "no" ends sharing.
//! * Unanswered, sharing lapses [`LAPSE_WEEKS`] after it was last
//!   given or renewed, to the second: at exactly the lapse instant it is no
//!   longer active.
//!
//! The lapse is *computed*, never dependent on a background job: a recorded
//! [`ConsentEventKind::Lapsed`] is only a record of what the computation
//! already says. Staff reads therefore call [`is_sharing`] on every request.
//!
//! Weeks are calendar weeks on Oslo's wall clock; see
//! [`add_calendar_weeks_oslo`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Oslo;
use serde::{Deserialize, Serialize};

use crate::policy::sharing::{LAPSE_WEEKS, RENEWAL_QUESTION_WEEKS};

/// What happened to a user's sharing consent. Stored as text via
/// [`ConsentEventKind::as_str`] / [`ConsentEventKind::parse`]; the serde form
/// is the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEventKind {
    /// The user chose to share (at the first question or later in settings).
    /// Starts a new period even if sharing was already active.
    Given,
    /// The user answered "yes" to the follow-up question. Starts a new period,
    /// but only while sharing is still active: it cannot revive sharing that
    /// has ended (that takes a new [`ConsentEventKind::Given`]).
    Renewed,
    /// The user stopped sharing in settings.
    Withdrawn,
    /// A record, written by the lapse job, that unanswered sharing lapsed.
    /// The lapse takes effect whether or not this is recorded.
    Lapsed,
    /// The user answered "no" to the question at first login.
    Declined,
    /// The user answered "no" to the follow-up question. Kept distinct from
    /// [`ConsentEventKind::Withdrawn`] so the user's export and history say
    /// truthfully which question they answered.
    EndedAtRenewal,
}

impl ConsentEventKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Given,
        Self::Renewed,
        Self::Withdrawn,
        Self::Lapsed,
        Self::Declined,
        Self::EndedAtRenewal,
    ];

    /// The stable text stored in the database. `parse(k.as_str()) == Ok(k)`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Renewed => "renewed",
            Self::Withdrawn => "withdrawn",
            Self::Lapsed => "lapsed",
            Self::Declined => "declined",
            Self::EndedAtRenewal => "ended_at_renewal",
        }
    }

    /// Reads the text written by [`ConsentEventKind::as_str`]; exact match,
    /// case-sensitive.
    pub fn parse(s: &str) -> Result<Self, UnknownConsentEventKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownConsentEventKind(s.to_owned()))
    }
}

impl fmt::Display for ConsentEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsentEventKind {
    type Err = UnknownConsentEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Stored text that is not a [`ConsentEventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown consent event kind {0:?}")]
pub struct UnknownConsentEventKind(pub String);

/// One entry of a user's consent history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// What happened.
    pub kind: ConsentEventKind,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Why a user who has been asked is not sharing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotSharingReason {
    /// Answered "no" at the first question.
    Declined,
    /// Stopped sharing in settings.
    Withdrawn,
    /// Answered "no" to the follow-up question.
    EndedAtRenewal,
    /// Did not answer the follow-up question in time.
    Lapsed,
}

/// The sharing state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SharingState {
    /// No consent event yet: ask at (first) login, nothing shared meanwhile.
    NeverAsked,
    /// The organisation may not see the user's data.
    NotSharing {
        /// When sharing ended (or was declined). For a computed lapse this is
        /// the lapse instant, not the time a job recorded it.
        since: DateTime<Utc>,
        /// Why.
        reason: NotSharingReason,
    },
    /// The organisation may see the user's data.
    ///
    /// Invariants: `since <= now < lapses_at`, `ask_from < lapses_at`,
    /// `ask_from == add_calendar_weeks_oslo(since, RENEWAL_QUESTION_WEEKS)`,
    /// `lapses_at == add_calendar_weeks_oslo(since, LAPSE_WEEKS)`.
    Sharing {
        /// Start of the current period: when sharing was last given or
        /// renewed.
        since: DateTime<Utc>,
        /// From this instant the next visit asks the follow-up question.
        ask_from: DateTime<Utc>,
        /// At this instant (and after) sharing is no longer active unless
        /// renewed before it.
        lapses_at: DateTime<Utc>,
        /// `now >= ask_from`: ask the follow-up question on this visit.
        renewal_due: bool,
    },
}

impl SharingState {
    /// Whether the organisation may see the user's data in this state.
    pub const fn is_sharing(&self) -> bool {
        matches!(self, Self::Sharing { .. })
    }
}

/// The sharing state at `now` given the user's consent history.
///
/// * `history` may be in any order; it is sorted by `at` with a stable sort,
///   so events at the same instant keep the caller's order (pass them in
///   insertion order). With distinct timestamps the result does not depend
///   on the input order at all.
/// * Events after `now` are ignored, so the state at any past instant can be
///   reconstructed from the full history.
/// * A period lapses at [`LAPSE_WEEKS`] after its start whether or
///   not a [`ConsentEventKind::Lapsed`] was recorded. An event at exactly the
///   lapse instant comes too late: the lapse applies first (so a renewal at
///   that second does not renew).
/// * Events that make no sense in the current state are resolved towards not
///   sharing: a `Renewed` when not sharing is ignored (it cannot revive
///   sharing); a `Lapsed` recorded while the period is still running ends it
///   early; `Withdrawn`/`Declined`/`EndedAtRenewal` end sharing whenever they
///   come, and when not sharing they leave the earlier end in place. An
///   orphan `Lapsed` before any answer leaves the user [`SharingState::NeverAsked`].
pub fn sharing_state(history: &[ConsentEvent], now: DateTime<Utc>) -> SharingState {
    evaluate(history, now).state
}

/// Whether the organisation may see the user's data at `now`: the check made
/// on every staff read. False at and after the lapse instant, to the second.
pub fn is_sharing(history: &[ConsentEvent], now: DateTime<Utc>) -> bool {
    sharing_state(history, now).is_sharing()
}

/// The sharing period as of the latest event: `Some((since, lapses_at))`
/// when, once every event of `history` has happened, the user shares from
/// `since` until `lapses_at` (unless something is recorded before), and
/// `None` when they do not share. Stored beside the account and kept up to
/// date with every event, so a list gate can select the sharing accounts
/// of an organisation by index instead of reading every history.
///
/// Invariant (tested): for every `now` at or after the latest event,
/// `is_sharing(history, now)` equals
/// `sharing_window(history).is_some_and(|(s, u)| s <= now && now < u)`.
pub fn sharing_window(history: &[ConsentEvent]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let last = history.iter().map(|e| e.at).max()?;
    match fold(history, last).0 {
        Fold::Sharing { since } => Some((since, add_calendar_weeks_oslo(since, LAPSE_WEEKS))),
        Fold::Never | Fold::Ended { .. } => None,
    }
}

/// For the job that records lapses: `Some(instant)` if sharing has lapsed at
/// or before `now` (the state is `NotSharing { reason: Lapsed, since: instant }`)
/// and no [`ConsentEventKind::Lapsed`] event at or after that instant has been
/// recorded yet. Record `Lapsed` with `at` = the returned instant (or `now`);
/// afterwards this returns `None` and the state is unchanged.
pub fn lapse_due(history: &[ConsentEvent], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    evaluate(history, now).unrecorded_lapse
}

/// `t` plus `weeks` calendar weeks on Oslo's wall clock: the same Oslo
/// wall-clock time on the same weekday `7 * weeks` calendar days later, so a
/// daylight-saving change between the two never moves the deadline (the UTC
/// duration may differ from `7 * weeks` days by up to one hour).
///
/// Where that wall-clock time does not exist or exists twice, the result is
/// still deterministic:
/// * skipped by the spring change (02:00–02:59 on the last Sunday of March):
///   read with the offset in force before the change, i.e. moved forward by
///   the length of the gap (02:30 becomes 03:30 CEST);
/// * repeated by the autumn change (02:00–02:59 on the last Sunday of
///   October): the earlier instant (summer time), so a lapse comes no later
///   than the wall clock says.
///
/// Saturates at [`DateTime::<Utc>::MAX_UTC`] if the result is not
/// representable.
pub fn add_calendar_weeks_oslo(t: DateTime<Utc>, weeks: u32) -> DateTime<Utc> {
    let local = t.with_timezone(&Oslo).naive_local();
    local
        .checked_add_days(Days::new(7 * u64::from(weeks)))
        .and_then(resolve_oslo)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The instant an Oslo wall-clock time denotes, resolving gaps and folds as
/// documented on [`add_calendar_weeks_oslo`].
fn resolve_oslo(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(d) = Oslo.from_local_datetime(&naive).earliest() {
        return Some(d.with_timezone(&Utc));
    }
    // In a gap. Oslo's transitions are months apart, so three hours earlier
    // is safely before the gap and carries the offset that was in force.
    let before = Oslo
        .from_local_datetime(&naive.checked_sub_signed(Duration::hours(3))?)
        .earliest()?;
    let offset = before.offset().fix();
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// Result of folding the history up to `now`.
struct Evaluation {
    state: SharingState,
    unrecorded_lapse: Option<DateTime<Utc>>,
}

/// The fold's state; the public [`SharingState`] adds derived deadlines.
#[derive(Clone, Copy)]
enum Fold {
    Never,
    Sharing {
        since: DateTime<Utc>,
    },
    Ended {
        since: DateTime<Utc>,
        reason: NotSharingReason,
    },
}

/// Folds the events up to `now` (each lapsing what ran out before it),
/// without the final lapse at `now`.
fn fold(history: &[ConsentEvent], now: DateTime<Utc>) -> (Fold, Option<DateTime<Utc>>) {
    let mut events: Vec<ConsentEvent> = history.iter().copied().filter(|e| e.at <= now).collect();
    // Stable: same-instant events keep the caller's (insertion) order.
    events.sort_by_key(|e| e.at);

    let mut state = Fold::Never;
    // Set by a computed lapse, cleared by a Lapsed record or a new period.
    let mut unrecorded_lapse = None;
    for event in events {
        // The lapse happens at its own instant, before anything that comes
        // at or after it.
        state = lapse_by(state, event.at, &mut unrecorded_lapse);
        state = apply(state, event, &mut unrecorded_lapse);
    }
    (state, unrecorded_lapse)
}

fn evaluate(history: &[ConsentEvent], now: DateTime<Utc>) -> Evaluation {
    let (state, mut unrecorded_lapse) = fold(history, now);
    let state = lapse_by(state, now, &mut unrecorded_lapse);

    let state = match state {
        Fold::Never => SharingState::NeverAsked,
        Fold::Ended { since, reason } => SharingState::NotSharing { since, reason },
        Fold::Sharing { since } => {
            let ask_from = add_calendar_weeks_oslo(since, RENEWAL_QUESTION_WEEKS);
            SharingState::Sharing {
                since,
                ask_from,
                lapses_at: add_calendar_weeks_oslo(since, LAPSE_WEEKS),
                renewal_due: now >= ask_from,
            }
        }
    };
    Evaluation {
        state,
        unrecorded_lapse,
    }
}

/// Ends a running period whose lapse instant is at or before `t`.
fn lapse_by(state: Fold, t: DateTime<Utc>, unrecorded: &mut Option<DateTime<Utc>>) -> Fold {
    match state {
        Fold::Sharing { since } => {
            let lapses_at = add_calendar_weeks_oslo(since, LAPSE_WEEKS);
            if t >= lapses_at {
                *unrecorded = Some(lapses_at);
                Fold::Ended {
                    since: lapses_at,
                    reason: NotSharingReason::Lapsed,
                }
            } else {
                state
            }
        }
        Fold::Never | Fold::Ended { .. } => state,
    }
}

/// Applies one event to a state that has already been lapsed up to its time.
fn apply(state: Fold, event: ConsentEvent, unrecorded: &mut Option<DateTime<Utc>>) -> Fold {
    let end = |reason| match state {
        // An end while sharing (or as the first answer) takes effect now.
        Fold::Never | Fold::Sharing { .. } => Fold::Ended {
            since: event.at,
            reason,
        },
        // Already not sharing: the earlier end stays the truthful "since".
        Fold::Ended { .. } => state,
    };
    match event.kind {
        ConsentEventKind::Given => {
            // A new period makes any old, unrecorded lapse moot for the job.
            *unrecorded = None;
            Fold::Sharing { since: event.at }
        }
        ConsentEventKind::Renewed => match state {
            Fold::Sharing { .. } => Fold::Sharing { since: event.at },
            // Only the user's explicit "share" can start sharing again.
            Fold::Never | Fold::Ended { .. } => state,
        },
        ConsentEventKind::Withdrawn => end(NotSharingReason::Withdrawn),
        ConsentEventKind::Declined => end(NotSharingReason::Declined),
        ConsentEventKind::EndedAtRenewal => end(NotSharingReason::EndedAtRenewal),
        ConsentEventKind::Lapsed => match state {
            // Recorded before the computed lapse (clock skew, a buggy job):
            // stopping early is the safe side, so honour it.
            Fold::Sharing { .. } => {
                *unrecorded = None;
                Fold::Ended {
                    since: event.at,
                    reason: NotSharingReason::Lapsed,
                }
            }
            Fold::Ended {
                reason: NotSharingReason::Lapsed,
                ..
            } => {
                *unrecorded = None;
                state
            }
            // Nothing was shared, so there is nothing to lapse.
            Fold::Never | Fold::Ended { .. } => state,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentEventKind::{Declined, EndedAtRenewal, Given, Lapsed, Renewed, Withdrawn};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn ev(kind: ConsentEventKind, at: DateTime<Utc>) -> ConsentEvent {
        ConsentEvent { kind, at }
    }

    const SEC: Duration = Duration::seconds(1);

    // 2026-01-05 is a Monday in winter time (UTC+1): 10:00 Oslo.
    fn day0() -> DateTime<Utc> {
        utc("2026-01-05T09:00:00Z")
    }

    #[test]
    fn kinds_round_trip_as_text() {
        for k in ConsentEventKind::ALL {
            assert_eq!(ConsentEventKind::parse(k.as_str()), Ok(k));
            assert_eq!(k.as_str().parse::<ConsentEventKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(
            ConsentEventKind::parse("Given"),
            Err(UnknownConsentEventKind("Given".to_owned()))
        );
        assert!(ConsentEventKind::parse("").is_err());
    }

    #[test]
    fn serde_text_matches_as_str() {
        #[derive(Serialize, Deserialize)]
        struct W {
            k: ConsentEventKind,
        }
        for k in ConsentEventKind::ALL {
            let s = toml::to_string(&W { k }).expect("serialise");
            assert_eq!(s.trim(), format!("k = \"{}\"", k.as_str()));
            let back: W = toml::from_str(&s).expect("deserialise");
            assert_eq!(back.k, k);
        }
    }

    #[test]
    fn never_asked_without_events() {
        assert_eq!(sharing_state(&[], day0()), SharingState::NeverAsked);
        assert!(!is_sharing(&[], day0()));
        assert_eq!(lapse_due(&[], day0()), None);
    }

    #[test]
    fn declined_at_first_login() {
        let h = [ev(Declined, day0())];
        assert_eq!(
            sharing_state(&h, day0()),
            SharingState::NotSharing {
                since: day0(),
                reason: NotSharingReason::Declined
            }
        );
    }

    #[test]
    fn given_then_asked_at_22_weeks() {
        let h = [ev(Given, day0())];
        let ask = utc("2026-06-08T08:00:00Z"); // 10:00 CEST, a Monday
        let lapse = utc("2026-07-06T08:00:00Z");
        let expected = |renewal_due| SharingState::Sharing {
            since: day0(),
            ask_from: ask,
            lapses_at: lapse,
            renewal_due,
        };
        assert_eq!(sharing_state(&h, day0()), expected(false));
        assert_eq!(sharing_state(&h, ask - SEC), expected(false));
        assert_eq!(sharing_state(&h, ask), expected(true));
        assert_eq!(sharing_state(&h, lapse - SEC), expected(true));
    }

    #[test]
    fn lapses_at_26_weeks_to_the_second() {
        let h = [ev(Given, day0())];
        let lapse = add_calendar_weeks_oslo(day0(), LAPSE_WEEKS);
        assert_eq!(lapse, utc("2026-07-06T08:00:00Z"));
        assert!(is_sharing(&h, lapse - SEC));
        assert_eq!(lapse_due(&h, lapse - SEC), None);
        assert!(!is_sharing(&h, lapse));
        assert!(!is_sharing(&h, lapse + SEC));
        let lapsed = SharingState::NotSharing {
            since: lapse,
            reason: NotSharingReason::Lapsed,
        };
        assert_eq!(sharing_state(&h, lapse), lapsed);
        assert_eq!(sharing_state(&h, lapse + SEC), lapsed);
        assert_eq!(lapse_due(&h, lapse), Some(lapse));
        assert_eq!(lapse_due(&h, lapse + Duration::days(3)), Some(lapse));
    }

    #[test]
    fn recorded_lapse_is_only_a_record() {
        let lapse = add_calendar_weeks_oslo(day0(), LAPSE_WEEKS);
        let later = lapse + Duration::hours(5);
        let lapsed = SharingState::NotSharing {
            since: lapse,
            reason: NotSharingReason::Lapsed,
        };
        // The job ran late and recorded the lapse at its own run time.
        for recorded_at in [lapse, later] {
            let h = [ev(Given, day0()), ev(Lapsed, recorded_at)];
            assert_eq!(sharing_state(&h, later), lapsed);
            assert_eq!(lapse_due(&h, later), None);
        }
    }

    #[test]
    fn renewal_restarts_both_deadlines() {
        let renewed_at = utc("2026-06-10T17:30:00Z"); // in the question window
        let h = [ev(Given, day0()), ev(Renewed, renewed_at)];
        let old_lapse = add_calendar_weeks_oslo(day0(), LAPSE_WEEKS);
        let new_ask = add_calendar_weeks_oslo(renewed_at, RENEWAL_QUESTION_WEEKS);
        let new_lapse = add_calendar_weeks_oslo(renewed_at, LAPSE_WEEKS);
        assert_eq!(new_ask, utc("2026-11-11T18:30:00Z")); // 19:30 Oslo, winter
        assert_eq!(new_lapse, utc("2026-12-09T18:30:00Z"));
        assert_eq!(
            sharing_state(&h, old_lapse),
            SharingState::Sharing {
                since: renewed_at,
                ask_from: new_ask,
                lapses_at: new_lapse,
                renewal_due: false
            }
        );
        assert!(is_sharing(&h, new_lapse - SEC));
        assert!(!is_sharing(&h, new_lapse));
    }

    #[test]
    fn renewal_after_lapse_does_not_revive() {
        let lapse = add_calendar_weeks_oslo(day0(), LAPSE_WEEKS);
        for late in [lapse, lapse + SEC] {
            let h = [ev(Given, day0()), ev(Renewed, late)];
            assert!(!is_sharing(&h, late));
            assert_eq!(lapse_due(&h, late), Some(lapse));
        }
        let h = [ev(Given, day0()), ev(Renewed, lapse - SEC)];
        assert!(is_sharing(&h, lapse));
    }

    #[test]
    fn no_at_renewal_ends_sharing() {
        let at = utc("2026-06-09T06:00:00Z");
        let h = [ev(Given, day0()), ev(EndedAtRenewal, at)];
        assert!(is_sharing(&h, at - SEC));
        assert_eq!(
            sharing_state(&h, at),
            SharingState::NotSharing {
                since: at,
                reason: NotSharingReason::EndedAtRenewal
            }
        );
        // No lapse ever follows an explicit end.
        assert_eq!(lapse_due(&h, at + Duration::weeks(60)), None);
    }

    #[test]
    fn withdraw_then_give_again() {
        let w = day0() + Duration::days(10);
        let g = day0() + Duration::days(40);
        let h = [ev(Given, day0()), ev(Withdrawn, w), ev(Given, g)];
        assert!(is_sharing(&h, w - SEC));
        assert_eq!(
            sharing_state(&h, w),
            SharingState::NotSharing {
                since: w,
                reason: NotSharingReason::Withdrawn
            }
        );
        assert!(!is_sharing(&h, g - SEC));
        let lapse = add_calendar_weeks_oslo(g, LAPSE_WEEKS);
        assert!(is_sharing(&h, g));
        assert!(is_sharing(&h, lapse - SEC));
        assert!(!is_sharing(&h, lapse));
    }

    #[test]
    fn share_again_after_lapse() {
        let lapse = add_calendar_weeks_oslo(day0(), LAPSE_WEEKS);
        let g = lapse + Duration::days(30);
        let h = [ev(Given, day0()), ev(Given, g)];
        assert!(!is_sharing(&h, g - SEC));
        assert_eq!(lapse_due(&h, g - SEC), Some(lapse));
        // The old lapse no longer concerns the job once sharing is given again.
        assert!(is_sharing(&h, g));
        assert_eq!(lapse_due(&h, g), None);
    }

    #[test]
    fn history_order_does_not_matter() {
        let w = day0() + Duration::days(10);
        let g = day0() + Duration::days(40);
        let sorted = [ev(Given, day0()), ev(Withdrawn, w), ev(Given, g)];
        let shuffled = [ev(Given, g), ev(Given, day0()), ev(Withdrawn, w)];
        for now in [day0(), w, g, g + Duration::weeks(30)] {
            assert_eq!(sharing_state(&sorted, now), sharing_state(&shuffled, now));
        }
    }

    #[test]
    fn future_events_are_ignored() {
        let g = day0() + Duration::days(5);
        let h = [ev(Withdrawn, g), ev(Given, day0())];
        assert!(is_sharing(&h, g - SEC));
        assert!(!is_sharing(&h, g));
        assert_eq!(sharing_state(&h, day0() - SEC), SharingState::NeverAsked);
    }

    #[test]
    fn same_instant_events_keep_input_order() {
        let t = day0();
        assert!(is_sharing(&[ev(Withdrawn, t), ev(Given, t)], t));
        assert!(!is_sharing(&[ev(Given, t), ev(Withdrawn, t)], t));
    }

    #[test]
    fn premature_lapse_record_ends_sharing() {
        let at = day0() + Duration::weeks(10);
        let h = [ev(Given, day0()), ev(Lapsed, at)];
        assert_eq!(
            sharing_state(&h, at),
            SharingState::NotSharing {
                since: at,
                reason: NotSharingReason::Lapsed
            }
        );
        assert_eq!(lapse_due(&h, at + Duration::weeks(30)), None);
    }

    #[test]
    fn orphan_events() {
        let t = day0();
        // A renewal or lapse record with nothing to renew or lapse.
        assert_eq!(
            sharing_state(&[ev(Renewed, t)], t),
            SharingState::NeverAsked
        );
        assert_eq!(sharing_state(&[ev(Lapsed, t)], t), SharingState::NeverAsked);
        // A later "no" does not overwrite when sharing actually ended.
        let h = [ev(Declined, t), ev(Withdrawn, t + SEC)];
        assert_eq!(
            sharing_state(&h, t + SEC),
            SharingState::NotSharing {
                since: t,
                reason: NotSharingReason::Declined
            }
        );
    }

    #[test]
    fn spring_dst_keeps_oslo_wall_clock() {
        // 2026-03-01 10:00 Oslo is UTC+1; summer time starts 2026-03-29.
        let given = utc("2026-03-01T09:00:00Z");
        let h = [ev(Given, given)];
        let ask = utc("2026-08-02T08:00:00Z"); // 10:00 CEST
        let lapse = utc("2026-08-30T08:00:00Z"); // 10:00 CEST
        assert_eq!(add_calendar_weeks_oslo(given, 22), ask);
        assert_eq!(add_calendar_weeks_oslo(given, 26), lapse);
        assert_eq!(lapse - given, Duration::days(182) - Duration::hours(1));
        assert!(is_sharing(&h, lapse - SEC));
        assert!(!is_sharing(&h, lapse));
        assert!(!is_sharing(&h, lapse + SEC));
    }

    #[test]
    fn autumn_dst_keeps_oslo_wall_clock() {
        let given = utc("2026-07-01T08:00:00Z"); // 10:00 CEST
        let lapse = utc("2026-12-30T09:00:00Z"); // 10:00 CET
        assert_eq!(add_calendar_weeks_oslo(given, 26), lapse);
        assert_eq!(lapse - given, Duration::days(182) + Duration::hours(1));
    }

    #[test]
    fn wall_clock_in_the_spring_gap_moves_forward() {
        // 2025-10-26 02:30 happens twice; 22 weeks later, 2026-03-29 02:30,
        // does not exist and becomes 03:30 CEST (01:30 UTC) for both.
        let first = utc("2025-10-26T00:30:00Z"); // 02:30 CEST
        let second = utc("2025-10-26T01:30:00Z"); // 02:30 CET
        let target = utc("2026-03-29T01:30:00Z");
        assert_eq!(add_calendar_weeks_oslo(first, 22), target);
        assert_eq!(add_calendar_weeks_oslo(second, 22), target);
        // A winter 02:30 lands on the same gap 1 week later.
        assert_eq!(
            add_calendar_weeks_oslo(utc("2026-03-22T01:30:00Z"), 1),
            target
        );
    }

    #[test]
    fn repeated_wall_clock_takes_the_earlier_instant() {
        // 2026-10-25 02:30 happens twice (CEST then CET): take CEST.
        let winter = utc("2026-03-22T01:30:00Z"); // 02:30 CET
        let target = utc("2026-10-25T00:30:00Z"); // first 02:30, CEST
        assert_eq!(add_calendar_weeks_oslo(winter, 31), target);
        assert_eq!(target - winter, Duration::weeks(31) - Duration::hours(1));
        let summer = utc("2026-05-24T00:30:00Z"); // 02:30 CEST
        assert_eq!(add_calendar_weeks_oslo(summer, 22), target);
    }

    #[test]
    fn huge_week_counts_saturate() {
        assert_eq!(
            add_calendar_weeks_oslo(day0(), u32::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(add_calendar_weeks_oslo(day0(), 0), day0());
    }

    // ---- properties ----

    /// 2025-01-01 .. about 2028-06: several DST changes each way.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_735_689_600_i64..1_845_000_000)
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    /// Instants whose `weeks`-later Oslo wall clock lies within three hours
    /// of a daylight-saving change, so gaps and folds are actually hit.
    fn near_dst_target() -> impl Strategy<Value = (DateTime<Utc>, u32)> {
        let changes = [
            "2025-10-26T01:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-10-25T01:00:00Z",
            "2027-03-28T01:00:00Z",
            "2027-10-31T01:00:00Z",
        ]
        .map(utc)
        .to_vec();
        (
            prop::sample::select(changes),
            0u32..60,
            -3 * 3600i64..3 * 3600,
        )
            .prop_map(|(change, weeks, offset)| {
                (
                    change - Duration::weeks(i64::from(weeks)) + Duration::seconds(offset),
                    weeks,
                )
            })
    }

    fn kind() -> impl Strategy<Value = ConsentEventKind> {
        prop::sample::select(ConsentEventKind::ALL.to_vec())
    }

    /// Histories whose events are spread out enough that lapses happen
    /// between them, with the occasional same-day cluster.
    fn history() -> impl Strategy<Value = Vec<ConsentEvent>> {
        prop::collection::vec(
            (kind(), instant()).prop_map(|(kind, at)| ConsentEvent { kind, at }),
            0..12,
        )
    }

    fn distinct_times(mut h: Vec<ConsentEvent>) -> Vec<ConsentEvent> {
        h.sort_by_key(|e| e.at);
        h.dedup_by_key(|e| e.at);
        h
    }

    proptest! {
        #[test]
        fn weeks_keep_wall_clock_weekday_and_stay_near_the_utc_duration(
            (t, weeks) in prop_oneof![(instant(), 0u32..120), near_dst_target()],
        ) {
            let r = add_calendar_weeks_oslo(t, weeks);
            let lt = t.with_timezone(&Oslo).naive_local();
            let lr = r.with_timezone(&Oslo).naive_local();
            let expected = lt + Days::new(7 * u64::from(weeks));
            prop_assert_eq!(lr.date(), expected.date());
            // Equal wall clock, except a time in the spring gap moves forward
            // by the gap.
            let shift = lr - expected;
            prop_assert!(shift == Duration::zero() || shift == Duration::hours(1));
            let d = r - t;
            let w = Duration::weeks(i64::from(weeks));
            prop_assert!(d >= w - Duration::hours(1) && d <= w + Duration::hours(1));
        }

        #[test]
        fn the_stored_window_decides_as_the_history_does(h in history(), after in 0i64..400_000_000) {
            let window = sharing_window(&h);
            let Some(last) = h.iter().map(|e| e.at).max() else {
                prop_assert_eq!(window, None);
                return Ok(());
            };
            for now in [last, last + Duration::seconds(after)] {
                prop_assert_eq!(
                    is_sharing(&h, now),
                    window.is_some_and(|(since, until)| since <= now && now < until),
                    "now {}", now
                );
            }
            if let Some((since, until)) = window {
                // The window's own edges: shared just before the lapse, not at it.
                prop_assert!(is_sharing(&h, until - SEC) || until - SEC < last);
                prop_assert!(!is_sharing(&h, until.max(last)));
                prop_assert!(since <= last);
            }
        }

        #[test]
        fn sharing_state_is_consistent(h in history(), now in instant()) {
            match sharing_state(&h, now) {
                SharingState::Sharing { since, ask_from, lapses_at, renewal_due } => {
                    prop_assert!(since <= now && now < lapses_at);
                    prop_assert!(ask_from < lapses_at);
                    prop_assert_eq!(ask_from, add_calendar_weeks_oslo(since, RENEWAL_QUESTION_WEEKS));
                    prop_assert_eq!(lapses_at, add_calendar_weeks_oslo(since, LAPSE_WEEKS));
                    prop_assert_eq!(renewal_due, now >= ask_from);
                    prop_assert!(h.iter().any(|e| e.at == since && matches!(e.kind, Given | Renewed)));
                    prop_assert_eq!(lapse_due(&h, now), None);
                }
                SharingState::NotSharing { since, .. } => prop_assert!(since <= now),
                SharingState::NeverAsked => {
                    prop_assert!(h.iter().all(|e| e.at > now || matches!(e.kind, Renewed | Lapsed)));
                }
            }
        }

        #[test]
        fn never_sharing_at_or_after_the_lapse(h in history(), now in instant(), extra in 0i64..100_000_000) {
            let past: Vec<ConsentEvent> = h.iter().copied().filter(|e| e.at <= now).collect();
            if let SharingState::Sharing { lapses_at, .. } = sharing_state(&h, now) {
                // With no further events, sharing holds until the lapse
                // instant and ends exactly there.
                prop_assert!(is_sharing(&past, lapses_at - SEC));
                prop_assert!(!is_sharing(&past, lapses_at));
                prop_assert!(!is_sharing(&past, lapses_at + Duration::seconds(extra)));
            }
            // Whatever the history, nothing shares after every period it
            // could have started has lapsed.
            let last_lapse = h
                .iter()
                .filter(|e| matches!(e.kind, Given | Renewed))
                .map(|e| add_calendar_weeks_oslo(e.at, LAPSE_WEEKS))
                .max();
            match last_lapse {
                Some(l) => prop_assert!(!is_sharing(&h, l + Duration::seconds(extra))),
                None => prop_assert!(!is_sharing(&h, now)),
            }
        }

        #[test]
        fn input_order_does_not_matter(
            (h, shuffled) in history()
                .prop_map(distinct_times)
                .prop_flat_map(|h| (Just(h.clone()), Just(h).prop_shuffle())),
            now in instant(),
        ) {
            prop_assert_eq!(sharing_state(&h, now), sharing_state(&shuffled, now));
            prop_assert_eq!(lapse_due(&h, now), lapse_due(&shuffled, now));
        }

        #[test]
        fn events_after_now_do_not_matter(h in history(), now in instant()) {
            let past: Vec<ConsentEvent> = h.iter().copied().filter(|e| e.at <= now).collect();
            prop_assert_eq!(sharing_state(&h, now), sharing_state(&past, now));
        }

        #[test]
        fn recording_a_due_lapse_changes_nothing_else(h in history(), now in instant(), at_now in any::<bool>()) {
            if let Some(lapse) = lapse_due(&h, now) {
                let state = sharing_state(&h, now);
                prop_assert_eq!(
                    state,
                    SharingState::NotSharing { since: lapse, reason: NotSharingReason::Lapsed }
                );
                let mut recorded = h.clone();
                recorded.push(ev(Lapsed, if at_now { now } else { lapse }));
                prop_assert_eq!(lapse_due(&recorded, now), None);
                prop_assert_eq!(sharing_state(&recorded, now), state);
            }
        }
    }
}
