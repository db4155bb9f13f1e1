//! The failed-login throttle, wherever its state lives. On SQLite (one
//! node) it is `mestring_ipcrypt::IpState`'s in-process limiter; on
//! PostgreSQL it is `mestring_store::throttle` in the database, so that
//! every node on the database spends one budget and N nodes do not give a
//! guessing client N times the attempts. Both apply the same limits
//! (`policy::throttle::LOGIN`, as rates from `LoginLimits`) with the same
//! algorithm (`mestring_domain::gcra`), and record the same security
//! events.

use mestring_domain::gcra::Rate;
use mestring_ipcrypt::{RequestIp, RetryAfter, SecurityEventKind};
use mestring_store::Backend;

use crate::{AppError, AppState};

/// The key of the global cell (every client together).
const GLOBAL: &str = "g";

fn shared(state: &AppState) -> bool {
    state.store.backend() == Backend::Postgres
}

/// Call before processing a login. `Ok(Err(wait))` while this client (by
/// today's or yesterday's tag) or everyone is throttled; a `throttled`
/// security event is then recorded and the caller answers 429.
pub async fn login_gate(
    state: &AppState,
    ip: &RequestIp,
) -> Result<Result<(), RetryAfter>, AppError> {
    if !shared(state) {
        return Ok(state.ip.login_gate(ip));
    }
    let now = state.ip.now();
    let mut keys = vec![GLOBAL.to_owned()];
    for tag in std::iter::once(*ip.tag()).chain(ip.previous_tag()) {
        let hex = tag.to_hex();
        keys.push(format!("m:{hex}"));
        keys.push(format!("h:{hex}"));
    }
    let until = state
        .store
        .run(move |conn| mestring_store::throttle::throttled_until(conn, &keys, now))
        .await?;
    Ok(match until {
        Some(until) => {
            state.ip.record_event(ip, SecurityEventKind::Throttled);
            Err(RetryAfter::between(now, until))
        }
        None => Ok(()),
    })
}

/// Call after a failed login: records a `failed_login` event and spends
/// one attempt from the global, the per-minute and the per-hour budget, in
/// that order. `Ok(Err(wait))` when this failure exhausted one: the client
/// (or, for the global budget, everyone) is throttled, a `throttled`
/// event is recorded, and the caller answers 429 at once.
pub async fn record_failed_login(
    state: &AppState,
    ip: &RequestIp,
) -> Result<Result<(), RetryAfter>, AppError> {
    if !shared(state) {
        return Ok(state.ip.record_failed_login(ip));
    }
    state.ip.record_event(ip, SecurityEventKind::FailedLogin);
    let now = state.ip.now();
    let limits = state.ip.limits();
    let hex = ip.tag().to_hex();
    let cells: Vec<(String, Rate)> = vec![
        (GLOBAL.to_owned(), limits.global_rate()),
        (format!("m:{hex}"), limits.per_tag_minute_rate()),
        (format!("h:{hex}"), limits.per_tag_hour_rate()),
    ];
    let spent = state
        .store
        .run(move |conn| mestring_store::throttle::spend(conn, &cells, now))
        .await?;
    Ok(match spent {
        Ok(()) => Ok(()),
        Err(until) => {
            state.ip.record_event(ip, SecurityEventKind::Throttled);
            Err(RetryAfter::between(now, until))
        }
    })
}
