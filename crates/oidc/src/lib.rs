//! OpenID Connect logins (docs/oidc.md): citizens launched from the health
//! portal under its pairwise pseudonym, and staff logging in with HelseID.
//!
//! - [`provider`]: discovery, PKCE, the code exchange and ID token
//!   verification (`openidconnect`);
//! - [`flow`]: what both logins share: the pending login bound to its
//!   `state` and browser, and the refusal page;
//! - [`launch`]: `GET /launch/{channel}` and its callback;
//! - [`helseid`]: `GET /staff/login/helseid` and its callback.
//!
//! Invariant: no `sub`, name or national identity number is stored or
//! logged; a portal identity is kept only as HMAC(pepper, channel, `sub`).

pub mod flow;
pub mod helseid;
pub mod http;
pub mod launch;
pub mod provider;

use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_web::route;
use mestring_web::routes::RouteDef;

pub use provider::{Provider, ProviderConfigError};

/// Scopes HelseID is asked for beyond `openid`: the assurance level and
/// the HPR number. Never the national identity number.
pub const HELSEID_SCOPES: &[&str] = &[
    "helseid://scopes/identity/assurance_level",
    "helseid://scopes/hpr/hpr_number",
];

/// Claims read from a HelseID ID token (docs/oidc.md).
pub mod helseid_claims {
    /// The health personnel number.
    pub const HPR_NUMBER: &str = "helseid://claims/hpr/hpr_number";
    /// eIDAS level: low, substantial, high.
    pub const ASSURANCE_LEVEL: &str = "helseid://claims/identity/assurance_level";
    /// The older numeric level (3 = substantial, 4 = high).
    pub const SECURITY_LEVEL: &str = "helseid://claims/identity/security_level";
    /// The organisation number the login is for (parent organisation).
    pub const ORG_PARENT: &str = "helseid://claims/client/claims/orgnr_parent";
    /// A sub-unit's organisation number, when there is one.
    pub const ORG_CHILD: &str = "helseid://claims/client/claims/orgnr_child";
}

/// How Mestring proves itself to a provider's token endpoint.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`: a shared secret.
    Secret(String),
    /// `private_key_jwt` (RFC 7523): a short-lived assertion signed with
    /// this RSA private key (PEM); the provider holds the public key.
    PrivateKeyJwt {
        /// The key file (PKCS#1 or PKCS#8 PEM, RSA).
        key_file: std::path::PathBuf,
        /// The key id (`kid`) registered with the provider, if it wants one.
        key_id: Option<String>,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([REDACTED])"),
            Self::PrivateKeyJwt { key_file, key_id } => f
                .debug_struct("PrivateKeyJwt")
                .field("key_file", key_file)
                .field("key_id", key_id)
                .finish(),
        }
    }
}

/// One provider's client registration. `Debug` prints no secret.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The issuer URL (discovery at `/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// How the client authenticates at the token endpoint.
    pub auth: ClientAuth,
}

/// The portal launch for one channel.
#[derive(Debug, Clone)]
pub struct LaunchSettings {
    /// The channel whose organisations assign the tool (e.g. `helsenorge`).
    pub channel: ChannelSlug,
    /// The portal's identity provider.
    pub client: ClientSettings,
    /// Organisations a launch may name; empty: any of the channel's.
    pub orgs: Vec<Id>,
}

/// HelseID for staff.
#[derive(Debug, Clone)]
pub struct HelseIdSettings {
    /// HelseID's identity provider.
    pub client: ClientSettings,
    /// Organisation numbers a login may be for; empty: any.
    pub orgs: Vec<String>,
}

/// Both logins' settings; each is off when absent.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The portal launch, one entry per channel (slugs distinct).
    pub launch: Vec<LaunchSettings>,
    /// HelseID.
    pub helseid: Option<HelseIdSettings>,
}

/// The configured logins, shared by the handlers.
#[derive(Debug)]
pub struct Oidc {
    http: http::Http,
    launch: Vec<Launch>,
    helseid: Option<HelseId>,
}

#[derive(Debug)]
struct Launch {
    channel: ChannelSlug,
    orgs: Vec<Id>,
    provider: Provider,
}

#[derive(Debug)]
struct HelseId {
    orgs: Vec<String>,
    provider: Provider,
}

impl Oidc {
    /// Both logins off.
    pub fn disabled() -> Self {
        Self {
            http: http::Http::new(),
            launch: Vec::new(),
            helseid: None,
        }
    }

    /// The logins in `settings`, returning to `base_url`.
    pub fn new(settings: &Settings, base_url: &str) -> Result<Self, ProviderConfigError> {
        let base = base_url.trim_end_matches('/');
        let launch = settings
            .launch
            .iter()
            .map(|l| {
                Ok(Launch {
                    channel: l.channel.clone(),
                    orgs: l.orgs.clone(),
                    provider: Provider::new(
                        &l.client,
                        &format!("{base}/launch/{}/callback", l.channel.as_str()),
                        // The portal is asked for `openid` only: no profile,
                        // no national identity number.
                        &[],
                    )?,
                })
            })
            .collect::<Result<Vec<_>, ProviderConfigError>>()?;
        let helseid = match &settings.helseid {
            Some(h) => Some(HelseId {
                orgs: h.orgs.clone(),
                provider: Provider::new(
                    &h.client,
                    &format!("{base}/staff/login/helseid/callback"),
                    HELSEID_SCOPES,
                )?,
            }),
            None => None,
        };
        Ok(Self {
            http: http::Http::new(),
            launch,
            helseid,
        })
    }

    /// Whether staff can log in with HelseID.
    pub fn helseid_enabled(&self) -> bool {
        self.helseid.is_some()
    }

    fn launch_for(&self, channel: &str) -> Option<&Launch> {
        self.launch.iter().find(|l| l.channel.as_str() == channel)
    }
}

/// The OpenID Connect routes.
pub fn routes() -> Vec<RouteDef> {
    vec![
        route!(Get, "/launch/{channel}", Public, launch::start),
        route!(Get, "/launch/{channel}/callback", Public, launch::callback),
        route!(Get, "/staff/login/helseid", Public, helseid::start),
        route!(
            Get,
            "/staff/login/helseid/callback",
            Public,
            helseid::callback
        ),
    ]
}
