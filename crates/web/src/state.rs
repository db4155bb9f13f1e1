//! What every handler can reach.

use std::sync::Arc;

use mestring_content::Catalog;
use mestring_domain::access_code::CodePepper;
use mestring_domain::clock::Clock;
use mestring_domain::policy::{self, SessionLimits};
use mestring_ipcrypt::IpState;
use mestring_store::Store;

/// Settings the web layer needs, already validated by the server.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Absolute base URL, e.g. `https://mestring.example`.
    pub base_url: String,
    /// Whether cookies get `Secure` (true whenever the base URL is https).
    pub secure_cookies: bool,
    /// Timeouts for end-user sessions.
    pub user_sessions: SessionLimits,
    /// Days the sealed security log keeps a row (the privacy page says so).
    pub security_log_days: i64,
    /// The small-cell threshold for group data.
    pub aggregates_k: mestring_domain::suppression::Threshold,
    /// How old stored group-data counts may be when a page is asked for.
    pub aggregates_max_age: chrono::Duration,
    /// Whether staff may log in with HelseID (the login page offers it).
    pub helseid: bool,
}

impl WebConfig {
    /// Config for a base URL with the standard session limits.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secure_cookies: base_url.starts_with("https://"),
            user_sessions: policy::session::USER,
            security_log_days: policy::retention::SECURITY_LOG_DAYS,
            aggregates_k: mestring_domain::suppression::Threshold::default(),
            aggregates_max_age: chrono::Duration::hours(1),
            helseid: false,
        }
    }
}

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The one source of "now".
    pub clock: Arc<dyn Clock>,
    /// Turns access codes into their stored HMAC.
    pub pepper: Arc<CodePepper>,
    /// Web settings.
    pub config: Arc<WebConfig>,
    /// The IP layer (tags, sealing, throttles).
    pub ip: Arc<IpState>,
    /// Programs, questionnaires and registrations, validated at start.
    pub content: Arc<Catalog>,
    /// Seals TOTP secrets and issued codes (pseudonyms) at rest.
    pub seal: Arc<crate::seal::SealKey>,
    /// The key-encryption keys that wrap each account's data key
    /// (crypto-shredding; `mestring_store::account_keys`).
    pub keks: mestring_crypto::shred::SharedKekRing,
    /// Remembers deleted accounts outside the database, so a restored
    /// backup does not bring them back.
    pub deletions: mestring_crypto::ledger::DeletionLedger,
    /// Outgoing e-mail (staff invitations).
    pub mail: Arc<mestring_mail::Mailer>,
}
