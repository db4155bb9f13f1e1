//! Shared state of the IP layer: keys, the block set, the event sink and the failed-login
//! rate limits.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::client_ip::{ClientIp, TrustedProxies};
use crate::events::{SecurityEvent, SecurityEventKind, SecurityEventSink};
use crate::seal::{SealedIp, SealingKeyRing};
use crate::tag::{IpTag, TagKeys};

/// The source of "now" for event timestamps and for the rate limiters, so the server's
/// test clock drives both.
pub type NowFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> NowFn {
    Arc::new(Utc::now)
}

#[cfg(test)]
fn nz(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN)
}

use mestring_domain::gcra::Rate;
pub use mestring_domain::policy::LoginLimits;

/// How long a refused client should wait, in whole seconds (>= 1), for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter {
    secs: u64,
}

impl RetryAfter {
    /// The wait from `now` until `until`, rounded up to whole seconds, at least 1.
    pub fn between(now: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        let ms = (until - now).num_milliseconds().max(0);
        let ms = u64::try_from(ms).unwrap_or(0);
        Self {
            secs: ms.div_ceil(1000).max(1),
        }
    }

    /// Whole seconds, at least 1: the `Retry-After` header value.
    pub fn seconds(self) -> u64 {
        self.secs
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.secs.fmt(f)
    }
}

/// governor clock backed by [`NowFn`]; instants are nanoseconds since the Unix epoch.
/// (A wall clock stepping back only makes limits last longer: governor's differences
/// saturate.)
#[derive(Clone)]
struct NowClock(NowFn);

impl Clock for NowClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        to_nanos((self.0)())
    }
}

fn to_nanos(t: DateTime<Utc>) -> Nanos {
    let n = t.timestamp_nanos_opt().unwrap_or(i64::MAX).max(0);
    Nanos::from(u64::try_from(n).unwrap_or(0))
}

fn from_nanos(n: Nanos) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(n.as_u64()).unwrap_or(i64::MAX))
}

type KeyedLimiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, NowClock, NoOpMiddleware<Nanos>>;
type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, NowClock, NoOpMiddleware<Nanos>>;

/// The governor quota of a policy rate (the same rate the shared,
/// database-backed limiter applies with `mestring_domain::gcra`).
fn quota(rate: Rate) -> Quota {
    let every = rate.every().to_std().unwrap_or(Duration::from_micros(1));
    Quota::with_period(every)
        .map(|q| q.allow_burst(rate.burst()))
        .unwrap_or_else(|| Quota::per_second(rate.burst()))
}

/// Everything the IP layer needs to build an [`IpState`].
pub struct IpStateConfig {
    /// From `MESTRING_TRUSTED_PROXIES`.
    pub trusted: TrustedProxies,
    /// Today's and yesterday's tag keys (from the database).
    pub tag_keys: TagKeys,
    /// The sealing key ring (from the key file).
    pub sealing: Arc<SealingKeyRing>,
    /// Where security events go.
    pub sink: Arc<dyn SecurityEventSink>,
    /// Rate limits.
    pub limits: LoginLimits,
    /// Clock.
    pub now: NowFn,
}

impl IpStateConfig {
    /// A config with default limits and the system clock.
    pub fn new(
        trusted: TrustedProxies,
        tag_keys: TagKeys,
        sealing: Arc<SealingKeyRing>,
        sink: Arc<dyn SecurityEventSink>,
    ) -> Self {
        Self {
            trusted,
            tag_keys,
            sealing,
            sink,
            limits: LoginLimits::default(),
            now: system_clock(),
        }
    }
}

/// State shared by the [`crate::IpLayer`] middleware and the handlers (through
/// [`RequestIp`]). Put one `Arc<IpState>` in the app; the server swaps keys and the block
/// set in place as it loads them from the database or key file.
///
/// Invariant: holds no raw address; throttles and blocks are keyed by tag or block hash.
pub struct IpState {
    trusted: TrustedProxies,
    tag_keys: RwLock<TagKeys>,
    sealing: RwLock<Arc<SealingKeyRing>>,
    blocked: RwLock<HashSet<[u8; 32]>>,
    sink: Arc<dyn SecurityEventSink>,
    now: NowFn,
    limits: LoginLimits,
    per_minute: KeyedLimiter<IpTag>,
    per_hour: KeyedLimiter<IpTag>,
    global: DirectLimiter,
    throttled: Mutex<HashMap<IpTag, DateTime<Utc>>>,
    global_throttled_until: Mutex<Option<DateTime<Utc>>>,
    event_per_tag: KeyedLimiter<(SecurityEventKind, IpTag)>,
    event_global: DirectLimiter,
    suppressed_events: AtomicU64,
}

impl fmt::Debug for IpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpState")
            .field("trusted", &self.trusted)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Reads through a poisoned lock: the protected data (keys, sets, timestamps) is replaced
/// whole, so it is never left half-updated by a panicking writer.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IpState {
    /// Builds the state.
    pub fn new(config: IpStateConfig) -> Self {
        let IpStateConfig {
            trusted,
            tag_keys,
            sealing,
            sink,
            limits,
            now,
        } = config;
        let clock = NowClock(now.clone());
        Self {
            trusted,
            tag_keys: RwLock::new(tag_keys),
            sealing: RwLock::new(sealing),
            blocked: RwLock::new(HashSet::new()),
            sink,
            limits,
            per_minute: RateLimiter::new(
                quota(limits.per_tag_minute_rate()),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            per_hour: RateLimiter::new(
                quota(limits.per_tag_hour_rate()),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            global: RateLimiter::direct_with_clock(quota(limits.global_rate()), clock.clone()),
            throttled: Mutex::new(HashMap::new()),
            global_throttled_until: Mutex::new(None),
            event_per_tag: RateLimiter::new(
                Quota::per_minute(limits.events_per_tag_per_minute),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            event_global: RateLimiter::direct_with_clock(
                Quota::per_second(limits.events_global_per_second),
                clock,
            ),
            now,
            suppressed_events: AtomicU64::new(0),
        }
    }

    /// Now, from the configured clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// The configured limits.
    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// Replaces the tag keys (daily rotation, or keys loaded from the database).
    pub fn set_tag_keys(&self, keys: TagKeys) {
        *write(&self.tag_keys) = keys;
    }

    /// The id of the current tag key (e.g. to decide whether today's key is loaded).
    pub fn current_tag_key_id(&self) -> String {
        read(&self.tag_keys).current().id.clone()
    }

    /// Replaces the sealing key ring (after `rotate` or a reload of the key file).
    pub fn set_sealing_keys(&self, ring: Arc<SealingKeyRing>) {
        *write(&self.sealing) = ring;
    }

    /// The sealing key ring in use.
    pub fn sealing_keys(&self) -> Arc<SealingKeyRing> {
        read(&self.sealing).clone()
    }

    /// Replaces the set of blocked block hashes (hex from `BlockKey::block_hash`; the
    /// server passes the unexpired blocks from the database). Entries that are not 64 hex
    /// characters are ignored; returns how many were accepted.
    pub fn set_blocked(&self, hashes: HashSet<String>) -> usize {
        let total = hashes.len();
        let set: HashSet<[u8; 32]> = hashes
            .iter()
            .filter_map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h.trim(), &mut out).ok().map(|()| out)
            })
            .collect();
        let accepted = set.len();
        if accepted < total {
            tracing::warn!(ignored = total - accepted, "ignored malformed block hashes");
        }
        *write(&self.blocked) = set;
        accepted
    }

    /// Whether this client is blocked. Cheap when nothing is blocked.
    pub(crate) fn is_blocked(&self, ip: &ClientIp) -> bool {
        let blocked = read(&self.blocked);
        if blocked.is_empty() {
            return false;
        }
        let hash = read(&self.sealing).block_key().hash_bytes(ip.addr());
        blocked.contains(&hash)
    }

    fn tag_of(&self, ip: &ClientIp) -> IpTag {
        read(&self.tag_keys).tag(ip)
    }

    fn previous_tag_of(&self, ip: &ClientIp) -> Option<IpTag> {
        read(&self.tag_keys).previous_tag(ip)
    }

    fn seal(&self, ip: &ClientIp, kind: &str, at: DateTime<Utc>) -> SealedIp {
        read(&self.sealing).seal(ip, kind, at)
    }

    /// Call before processing a login. `Err` while this client's tag (under today's or
    /// yesterday's key) or the whole system is throttled; a `throttled` security event is
    /// then recorded. The caller answers 429 with `Retry-After: {seconds}`.
    pub fn login_gate(&self, rip: &RequestIp) -> Result<(), RetryAfter> {
        let now = self.now();
        let mut until: Option<DateTime<Utc>> = *lock(&self.global_throttled_until);
        {
            let map = lock(&self.throttled);
            let tags = [Some(*rip.tag()), rip.previous_tag()];
            for t in tags.iter().flatten() {
                if let Some(u) = map.get(t) {
                    until = until.max(Some(*u));
                }
            }
        }
        match until {
            Some(u) if u > now => {
                self.emit(rip, SecurityEventKind::Throttled, now);
                Err(RetryAfter::between(now, u))
            }
            _ => Ok(()),
        }
    }

    /// Call after a failed login. Records a `failed_login` event and consumes quota. If
    /// this failure exhausts the tag's or the global quota, the tag (or everyone) is
    /// throttled until governor's earliest next allowed time, a `throttled` event is
    /// recorded, and `Err` says how long to wait (answer 429 straight away).
    pub fn record_failed_login(&self, rip: &RequestIp) -> Result<(), RetryAfter> {
        let now = self.now();
        self.emit(rip, SecurityEventKind::FailedLogin, now);
        let tag = *rip.tag();

        if let Err(nu) = self.global.check() {
            let until = from_nanos(nu.earliest_possible());
            let mut g = lock(&self.global_throttled_until);
            *g = (*g).max(Some(until));
            drop(g);
            self.emit(rip, SecurityEventKind::Throttled, now);
            return Err(RetryAfter::between(now, until));
        }
        let refused = self
            .per_minute
            .check_key(&tag)
            .and_then(|()| self.per_hour.check_key(&tag));
        if let Err(nu) = refused {
            let until = from_nanos(nu.earliest_possible());
            let mut map = lock(&self.throttled);
            let entry = map.entry(tag).or_insert(until);
            *entry = (*entry).max(until);
            drop(map);
            self.emit(rip, SecurityEventKind::Throttled, now);
            return Err(RetryAfter::between(now, until));
        }
        Ok(())
    }

    /// Records a security event for this client (bad CSRF, bad webhook signature, …).
    /// Events other than failed logins are subject to
    /// [`LoginLimits::events_per_tag_per_minute`] and the global event ceiling.
    pub fn record_event(&self, rip: &RequestIp, kind: SecurityEventKind) {
        self.emit(rip, kind, self.now());
    }

    fn emit(&self, rip: &RequestIp, kind: SecurityEventKind, at: DateTime<Utc>) {
        let tag = *rip.tag();
        if kind != SecurityEventKind::FailedLogin
            && (self.event_per_tag.check_key(&(kind, tag)).is_err()
                || self.event_global.check().is_err())
        {
            self.suppressed_events.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sealed = rip.seal(kind.as_str(), at);
        self.sink.record(SecurityEvent {
            kind,
            at,
            tag_hex: tag.to_hex(),
            sealed,
        });
    }

    /// Events dropped by the event rate limit since the last [`Self::housekeeping`].
    pub fn suppressed_events(&self) -> u64 {
        self.suppressed_events.load(Ordering::Relaxed)
    }

    /// Forgets rate-limit state that no longer matters (governor's `retain_recent`) and
    /// expired throttles. Call every few minutes; memory is otherwise bounded only by the
    /// number of distinct clients seen.
    pub fn housekeeping(&self) {
        for l in [&self.per_minute, &self.per_hour] {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.event_per_tag.retain_recent();
        self.event_per_tag.shrink_to_fit();
        let now = self.now();
        {
            let mut map = lock(&self.throttled);
            map.retain(|_, until| *until > now);
            map.shrink_to_fit();
        }
        {
            let mut g = lock(&self.global_throttled_until);
            if g.is_some_and(|u| u <= now) {
                *g = None;
            }
        }
        let suppressed = self.suppressed_events.swap(0, Ordering::Relaxed);
        if suppressed > 0 {
            tracing::info!(suppressed, "security events not stored (event rate limit)");
        }
    }

    #[cfg(test)]
    pub(crate) fn tracked_tags(&self) -> usize {
        self.per_minute.len()
    }
}

struct RequestIpInner {
    ip: ClientIp,
    state: Arc<IpState>,
    // Computed on first use: most requests never need a tag.
    tag: OnceLock<IpTag>,
}

/// The client of the current request, as handlers see it: a tag and the ability to seal,
/// never the address. Put into the request extensions by [`crate::IpLayer`]; extract it
/// as a handler argument (`FromRequest`) or with `req.extensions().get::<RequestIp>()`.
///
/// Cheap to clone. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct RequestIp(Arc<RequestIpInner>);

impl RequestIp {
    pub(crate) fn new(ip: ClientIp, state: Arc<IpState>) -> Self {
        Self(Arc::new(RequestIpInner {
            ip,
            state,
            tag: OnceLock::new(),
        }))
    }

    /// The client's tag under the current tag key (computed once per request).
    pub fn tag(&self) -> &IpTag {
        self.0.tag.get_or_init(|| self.0.state.tag_of(&self.0.ip))
    }

    /// Computes the tag again, bypassing the per-request cache (for benchmarks).
    #[doc(hidden)]
    pub fn recompute_tag(&self) -> IpTag {
        self.0.state.tag_of(&self.0.ip)
    }

    /// The client's tag under the previous tag key, if one is kept.
    pub fn previous_tag(&self) -> Option<IpTag> {
        self.0.state.previous_tag_of(&self.0.ip)
    }

    /// Seals the client's address for a security-log row of `kind` at `at`.
    pub fn seal(&self, kind: &str, at: DateTime<Utc>) -> SealedIp {
        self.0.state.seal(&self.0.ip, kind, at)
    }

    /// The shared state (for `login_gate`, `record_failed_login`, `record_event`).
    pub fn state(&self) -> &Arc<IpState> {
        &self.0.state
    }

    #[cfg(test)]
    pub(crate) fn client_ip(&self) -> &ClientIp {
        &self.0.ip
    }
}

impl fmt::Debug for RequestIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestIp([REDACTED])")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::events::MemoryEventSink;
    use chrono::TimeZone;

    /// A settable test clock.
    #[derive(Clone)]
    pub(crate) struct TestClock(Arc<Mutex<DateTime<Utc>>>);
    impl TestClock {
        pub(crate) fn new() -> Self {
            let t = Utc
                .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
                .single()
                .expect("valid");
            Self(Arc::new(Mutex::new(t)))
        }
        pub(crate) fn advance(&self, d: chrono::Duration) {
            *lock(&self.0) += d;
        }
        pub(crate) fn now_fn(&self) -> NowFn {
            let c = self.0.clone();
            Arc::new(move || *lock(&c))
        }
    }

    pub(crate) fn state_with(
        limits: LoginLimits,
    ) -> (Arc<IpState>, Arc<MemoryEventSink>, TestClock) {
        state_with_trusted(limits, TrustedProxies::none())
    }

    pub(crate) fn state_with_trusted(
        limits: LoginLimits,
        trusted: TrustedProxies,
    ) -> (Arc<IpState>, Arc<MemoryEventSink>, TestClock) {
        let sink = Arc::new(MemoryEventSink::new());
        let clock = TestClock::new();
        let mut cfg = IpStateConfig::new(
            trusted,
            TagKeys::generate("2026-11-25"),
            Arc::new(SealingKeyRing::generate()),
            sink.clone(),
        );
        cfg.limits = limits;
        cfg.now = clock.now_fn();
        (Arc::new(IpState::new(cfg)), sink, clock)
    }

    fn rip(state: &Arc<IpState>, s: &str) -> RequestIp {
        RequestIp::new(ClientIp::new(s.parse().expect("ip")), state.clone())
    }

    #[test]
    fn eleventh_failure_in_a_minute_throttles_that_tag_only() {
        let (state, sink, _clock) = state_with(LoginLimits::default());
        let a = rip(&state, "198.51.100.1");
        let b = rip(&state, "198.51.100.2");
        for i in 0..10 {
            assert_eq!(state.login_gate(&a), Ok(()), "attempt {i}");
            assert_eq!(state.record_failed_login(&a), Ok(()), "failure {i}");
        }
        assert_eq!(state.login_gate(&a), Ok(()));
        let ra = state
            .record_failed_login(&a)
            .expect_err("11th failure throttled");
        // GCRA: one more failure allowed every 6 s.
        assert_eq!(ra.seconds(), 6);
        assert!(state.login_gate(&a).is_err());
        assert_eq!(state.login_gate(&b), Ok(()));
        assert_eq!(state.record_failed_login(&b), Ok(()));
        assert_eq!(sink.count(SecurityEventKind::FailedLogin), 12);
        assert_eq!(sink.count(SecurityEventKind::Throttled), 2);
        let e = &sink.events()[0];
        assert_eq!(e.tag_hex, a.tag().to_hex());
        assert_eq!(
            state
                .sealing_keys()
                .open(e.sealed.as_bytes(), e.kind.as_str(), e.at)
                .map(|ip| ip.to_string()),
            Ok("198.51.100.1".to_owned())
        );
    }

    #[test]
    fn throttle_lifts_when_clock_advances() {
        let (state, _sink, clock) = state_with(LoginLimits::default());
        let a = rip(&state, "198.51.100.1");
        for _ in 0..10 {
            assert!(state.record_failed_login(&a).is_ok());
        }
        let ra = state.record_failed_login(&a).expect_err("throttled");
        assert_eq!(
            state.login_gate(&a).map_err(RetryAfter::seconds),
            Err(ra.seconds())
        );
        clock.advance(chrono::Duration::seconds(3));
        assert_eq!(state.login_gate(&a).map_err(RetryAfter::seconds), Err(3));
        clock.advance(chrono::Duration::seconds(3));
        assert_eq!(state.login_gate(&a), Ok(()));
        assert!(state.record_failed_login(&a).is_ok());
        assert!(state.record_failed_login(&a).is_err());
    }

    #[test]
    fn hourly_ceiling_is_never_exceeded() {
        let limits = LoginLimits {
            per_tag_per_minute: nz(1000),
            per_tag_per_hour: nz(100),
            ..LoginLimits::default()
        };
        let (state, _sink, clock) = state_with(limits);
        let a = rip(&state, "198.51.100.1");
        // Try once a second for two hours; count how many failures each hour admitted.
        let mut admitted = Vec::new();
        for s in 0..7200u32 {
            if state.login_gate(&a).is_ok() && state.record_failed_login(&a).is_ok() {
                admitted.push(s);
            }
            clock.advance(chrono::Duration::seconds(1));
        }
        for (i, start) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|s| **s < start + 3600)
                .count();
            assert!(
                in_window <= 100,
                "window from {start}s admitted {in_window}"
            );
        }
        assert!(admitted.len() >= 100, "should still admit the allowance");
    }

    #[test]
    fn global_ceiling_throttles_everyone() {
        let limits = LoginLimits {
            global_per_second: nz(3),
            ..LoginLimits::default()
        };
        let (state, _sink, clock) = state_with(limits);
        for i in 0..3 {
            let r = rip(&state, &format!("198.51.100.{i}"));
            assert!(state.record_failed_login(&r).is_ok());
        }
        let r = rip(&state, "198.51.100.9");
        assert_eq!(
            state.record_failed_login(&r).map_err(RetryAfter::seconds),
            Err(1)
        );
        let fresh = rip(&state, "203.0.113.1");
        assert!(state.login_gate(&fresh).is_err());
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(state.login_gate(&fresh), Ok(()));
    }

    #[test]
    fn throttle_survives_tag_key_rotation() {
        let (state, _sink, _clock) = state_with(LoginLimits::default());
        let a = rip(&state, "198.51.100.1");
        for _ in 0..11 {
            let _ = state.record_failed_login(&a);
        }
        let keys = read(&state.tag_keys).rotated(crate::tag::TagKey::generate("2026-11-26"));
        state.set_tag_keys(keys);
        let a2 = rip(&state, "198.51.100.1");
        assert_ne!(a2.tag(), a.tag());
        assert!(state.login_gate(&a2).is_err());
    }

    #[test]
    fn repeated_refusals_do_not_flood_the_log() {
        let (state, sink, _clock) = state_with(LoginLimits::default());
        let a = rip(&state, "198.51.100.1");
        for _ in 0..11 {
            let _ = state.record_failed_login(&a);
        }
        for _ in 0..100 {
            assert!(state.login_gate(&a).is_err());
        }
        assert_eq!(sink.count(SecurityEventKind::Throttled), 6);
        assert!(state.suppressed_events() > 0);
        state.housekeeping();
        assert_eq!(state.suppressed_events(), 0);
    }

    #[test]
    fn housekeeping_forgets_stale_state() {
        let (state, _sink, clock) = state_with(LoginLimits {
            global_per_second: nz(10_000),
            ..LoginLimits::default()
        });
        for i in 0..20 {
            let r = rip(&state, &format!("198.51.100.{i}"));
            for _ in 0..11 {
                let _ = state.record_failed_login(&r);
            }
        }
        assert_eq!(state.tracked_tags(), 20);
        clock.advance(chrono::Duration::hours(3));
        state.housekeeping();
        assert_eq!(state.tracked_tags(), 0);
        assert!(lock(&state.throttled).is_empty());
    }

    #[test]
    fn request_ip_debug_redacted_and_seal_opens() {
        let (state, _sink, clock) = state_with(LoginLimits::default());
        let r = rip(&state, "2001:db8::7");
        assert_eq!(format!("{r:?}"), "RequestIp([REDACTED])");
        let at = state.now();
        let sealed = r.seal("bad_csrf", at);
        let opened = state.sealing_keys().open(sealed.as_bytes(), "bad_csrf", at);
        assert_eq!(opened, Ok(r.client_ip().addr()));
        clock.advance(chrono::Duration::seconds(1));
        assert!(
            state
                .sealing_keys()
                .open(sealed.as_bytes(), "bad_csrf", state.now())
                .is_err()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let t = Utc::now();
        assert_eq!(RetryAfter::between(t, t).seconds(), 1);
        assert_eq!(
            RetryAfter::between(t, t - chrono::Duration::seconds(5)).seconds(),
            1
        );
        assert_eq!(
            RetryAfter::between(t, t + chrono::Duration::milliseconds(1001)).seconds(),
            2
        );
        assert_eq!(
            RetryAfter::between(t, t + chrono::Duration::seconds(36)).seconds(),
            36
        );
    }
}
