//! Security events and the sink that stores them.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::seal::SealedIp;

/// The kind of a security-log row. `as_str()` is what the store writes and what is bound
/// into the sealed IP's associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityEventKind {
    /// A login with a wrong access code or password.
    FailedLogin,
    /// A login refused because the tag or the whole system is rate limited.
    Throttled,
    /// A request from a blocked address (answered 403).
    Blocked,
    /// A state-changing request with a bad or missing CSRF token.
    BadCsrf,
    /// A payment-provider webhook with a forged, stale or unreadable
    /// signature (answered 400).
    BadWebhook,
    /// An OpenID Connect login refused: a token that fails verification
    /// (signature, issuer, audience, expiry, nonce), carries identity the
    /// platform must not receive (a national id, a name, a representation
    /// relation), a replayed or foreign `state`, or a HelseID login below
    /// the required assurance or with no matching staff account.
    OidcRefused,
}

impl SecurityEventKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::FailedLogin,
        Self::Throttled,
        Self::Blocked,
        Self::BadCsrf,
        Self::BadWebhook,
        Self::OidcRefused,
    ];

    /// The stable snake_case name (`failed_login`, `throttled`, `blocked`, `bad_csrf`, `bad_webhook`, `oidc_refused`).
    /// Never change these: they are bound into sealed values.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FailedLogin => "failed_login",
            Self::Throttled => "throttled",
            Self::Blocked => "blocked",
            Self::BadCsrf => "bad_csrf",
            Self::BadWebhook => "bad_webhook",
            Self::OidcRefused => "oidc_refused",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for SecurityEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown security-event kind name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown security event kind {0:?} (expected one of: failed_login, throttled, blocked, bad_csrf, bad_webhook, oidc_refused)"
)]
pub struct UnknownKind(pub String);

impl FromStr for SecurityEventKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// One row for the security log.
///
/// Invariant: it carries nothing that refers to an account, session, code, purchase or
/// usage — only time, kind, tag and the sealed address. `sealed` was sealed with
/// `kind.as_str()` and `at` as associated data, so the store must write exactly these
/// values (with microsecond precision) or the IP can no longer be revealed. `Debug` hides
/// the tag.
#[derive(Clone)]
pub struct SecurityEvent {
    /// What happened.
    pub kind: SecurityEventKind,
    /// When (from the state's clock).
    pub at: DateTime<Utc>,
    /// [`crate::IpTag::to_hex`] of the client under the day's tag key.
    pub tag_hex: String,
    /// The client's address, sealed; store `sealed.key_id()` in its own column.
    pub sealed: SealedIp,
}

impl fmt::Debug for SecurityEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityEvent")
            .field("kind", &self.kind)
            .field("at", &self.at)
            .field("tag_hex", &"[REDACTED]")
            .field("sealed", &self.sealed)
            .finish()
    }
}

/// Where security events go. The server implements this by writing a row to the
/// security-log table; `record` is called on the request path, so it must not block
/// (spawn the write).
pub trait SecurityEventSink: Send + Sync {
    /// Stores one event.
    fn record(&self, event: SecurityEvent);
}

/// A sink that drops everything (for tools that need an [`crate::IpState`] but no log).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl SecurityEventSink for NullSink {
    fn record(&self, _event: SecurityEvent) {}
}

/// A sink that keeps events in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryEventSink {
    events: Mutex<Vec<SecurityEvent>>,
}

impl MemoryEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many events of `kind` were recorded.
    pub fn count(&self, kind: SecurityEventKind) -> usize {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }
}

impl SecurityEventSink for MemoryEventSink {
    fn record(&self, event: SecurityEvent) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trip() {
        for k in SecurityEventKind::ALL {
            assert_eq!(SecurityEventKind::parse(k.as_str()), Some(k));
            assert_eq!(k.as_str().parse::<SecurityEventKind>(), Ok(k));
        }
        assert_eq!(SecurityEventKind::parse("Failed_Login"), None);
        assert!("nope".parse::<SecurityEventKind>().is_err());
    }
}
