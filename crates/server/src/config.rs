//! Typed configuration from the environment, validated at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use mestring_domain::policy::retention::{SECURITY_LOG_DAYS, SECURITY_LOG_MAX_DAYS};
use mestring_ipcrypt::TrustedProxies;
use mestring_store::DatabaseUrl;

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MESTRING_DATABASE_URL`.
    pub database_url: DatabaseUrl,
    /// `MESTRING_LISTEN`.
    pub listen: SocketAddr,
    /// `MESTRING_DATA_DIR`: key files, outbox, default SQLite file.
    pub data_dir: PathBuf,
    /// `MESTRING_BASE_URL`.
    pub base_url: String,
    /// `MESTRING_TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    /// `MESTRING_SMTP_URL` (empty: file outbox).
    pub smtp_url: Option<String>,
    /// `MESTRING_CONTENT_DIR`: programs and questionnaires from a directory;
    /// unset, the content compiled into the binary.
    pub content_dir: Option<PathBuf>,
    /// `MESTRING_SECURITY_LOG_DAYS`: how long sealed security events live.
    pub security_log_days: i64,
    /// `MESTRING_AGGREGATES_K`: the smallest group a published count may
    /// describe (default and minimum from the policy; upward only).
    pub aggregates_k: mestring_domain::suppression::Threshold,
    /// `MESTRING_AGGREGATES_MAX_AGE_SECS` (default 3600, 0 to 86400): how
    /// old the stored group-data counts may be before a request recomputes
    /// them; 0 computes on every request.
    pub aggregates_max_age_secs: i64,
    /// Seconds between maintenance refreshes (`MESTRING_MAINTENANCE_SECS`,
    /// default 60): IP tag keys, blocks, the key file. The table sweep
    /// (expiry, purges, lapses) runs hourly regardless.
    pub maintenance_secs: u64,
    /// HTTP worker threads (`MESTRING_WORKERS`, default: one per core).
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT
    /// (`MESTRING_SHUTDOWN_GRACE_SECS`, default 30, 1 to 600).
    pub shutdown_grace_secs: u64,
    /// `MESTRING_STRIPE_SECRET_KEY`, `MESTRING_STRIPE_WEBHOOK_SECRET` and
    /// `MESTRING_STRIPE_API_BASE`: both keys or neither; without them
    /// purchasing is off (docs/payments.md).
    pub stripe: Option<StripeConfig>,
    /// `MESTRING_OIDC_LAUNCH_*` and `MESTRING_OIDC_HELSEID_*`: the portal
    /// launch and HelseID for staff (docs/oidc.md); each is off unless its
    /// issuer, client id and client secret are all set.
    pub oidc: mestring_oidc::Settings,
}

/// Stripe settings. `Debug` prints no key.
#[derive(Clone)]
pub struct StripeConfig {
    /// The API secret key (`sk_…` or a restricted `rk_…`).
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// Another API address (tests: a fake Stripe); `None`: Stripe's.
    pub api_base: Option<String>,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"[REDACTED]")
            .field("webhook_secret", &"[REDACTED]")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// A configuration value that cannot be used; the message names the
/// variable and what is wrong, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has an unusable value.
    #[error("{var}: {problem}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(var: &'static str, problem: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        var,
        problem: problem.to_string(),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let database_url = DatabaseUrl::parse(
            &var("MESTRING_DATABASE_URL")
                .unwrap_or_else(|| "sqlite://data/mestring.sqlite3".into()),
        )
        .map_err(|e| invalid("MESTRING_DATABASE_URL", e))?;
        let listen = var("MESTRING_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| invalid("MESTRING_LISTEN", "expected HOST:PORT, e.g. 127.0.0.1:8080"))?;
        let base_url = var("MESTRING_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid(
                "MESTRING_BASE_URL",
                "must start with http:// or https://",
            ));
        }
        let trusted_proxies =
            TrustedProxies::parse(&var("MESTRING_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| invalid("MESTRING_TRUSTED_PROXIES", e))?;
        let security_log_days = match var("MESTRING_SECURITY_LOG_DAYS") {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=SECURITY_LOG_MAX_DAYS).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "MESTRING_SECURITY_LOG_DAYS",
                        format!("a whole number of days, 1 to {SECURITY_LOG_MAX_DAYS}"),
                    )
                })?,
            None => SECURITY_LOG_DAYS,
        };
        let aggregates_k = match var("MESTRING_AGGREGATES_K") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .and_then(|k| mestring_domain::suppression::Threshold::new(k).ok())
                .ok_or_else(|| {
                    invalid(
                        "MESTRING_AGGREGATES_K",
                        format!(
                            "a whole number, at least {} (it may only be raised)",
                            mestring_domain::policy::aggregates::MIN_K
                        ),
                    )
                })?,
            None => mestring_domain::suppression::Threshold::default(),
        };
        let aggregates_max_age_secs = match var("MESTRING_AGGREGATES_MAX_AGE_SECS") {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=86_400).contains(s))
                .ok_or_else(|| {
                    invalid(
                        "MESTRING_AGGREGATES_MAX_AGE_SECS",
                        "a whole number of seconds, 0 to 86400",
                    )
                })?,
            None => 3600,
        };
        let workers = match var("MESTRING_WORKERS") {
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| invalid("MESTRING_WORKERS", "a number from 1 to 256"))?,
            ),
            None => None,
        };
        let maintenance_secs = match var("MESTRING_MAINTENANCE_SECS") {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "MESTRING_MAINTENANCE_SECS",
                        "a number of seconds, 1 to 3600",
                    )
                })?,
            None => 60,
        };
        let shutdown_grace_secs = match var("MESTRING_SHUTDOWN_GRACE_SECS") {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=600).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "MESTRING_SHUTDOWN_GRACE_SECS",
                        "a number of seconds, 1 to 600",
                    )
                })?,
            None => 30,
        };
        let stripe = match (
            var("MESTRING_STRIPE_SECRET_KEY"),
            var("MESTRING_STRIPE_WEBHOOK_SECRET"),
        ) {
            (None, None) => None,
            (Some(secret_key), Some(webhook_secret)) => {
                let api_base = var("MESTRING_STRIPE_API_BASE");
                if let Some(b) = &api_base
                    && !(b.starts_with("https://") || b.starts_with("http://"))
                {
                    return Err(invalid(
                        "MESTRING_STRIPE_API_BASE",
                        "must start with https:// (or http:// for a local test server)",
                    ));
                }
                Some(StripeConfig {
                    secret_key: secret_key.trim().to_owned(),
                    webhook_secret: webhook_secret.trim().to_owned(),
                    api_base,
                })
            }
            (Some(_), None) => {
                return Err(invalid(
                    "MESTRING_STRIPE_WEBHOOK_SECRET",
                    "needed when MESTRING_STRIPE_SECRET_KEY is set",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "MESTRING_STRIPE_SECRET_KEY",
                    "needed when MESTRING_STRIPE_WEBHOOK_SECRET is set",
                ));
            }
        };
        let oidc = oidc_settings(&var)?;
        Ok(Self {
            oidc,
            stripe,
            shutdown_grace_secs,
            database_url,
            maintenance_secs,
            listen,
            data_dir: var("MESTRING_DATA_DIR")
                .unwrap_or_else(|| "data".into())
                .into(),
            base_url,
            trusted_proxies,
            smtp_url: var("MESTRING_SMTP_URL"),
            content_dir: var("MESTRING_CONTENT_DIR").map(PathBuf::from),
            security_log_days,
            aggregates_k,
            aggregates_max_age_secs,
            workers,
        })
    }
}

impl Config {
    /// Loads and validates the content: from `MESTRING_CONTENT_DIR` if set,
    /// otherwise what was compiled into the binary. The error names where
    /// the content came from and every problem.
    pub fn load_content(&self) -> anyhow::Result<mestring_content::Catalog> {
        match &self.content_dir {
            Some(dir) => mestring_content::load(dir)
                .map_err(|e| anyhow::anyhow!("content in {} is invalid:\n{e}", dir.display())),
            None => mestring_content::load_embedded()
                .map_err(|e| anyhow::anyhow!("the built-in content is invalid:\n{e}")),
        }
    }
}

/// One provider's client registration from `{prefix}_ISSUER`,
/// `{prefix}_CLIENT_ID` and either `{prefix}_CLIENT_SECRET` or
/// `{prefix}_CLIENT_KEY_FILE` (with an optional `{prefix}_CLIENT_KEY_ID`):
/// all or none.
fn oidc_client(
    var: &impl Fn(&str) -> Option<String>,
    prefix: &'static str,
) -> Result<Option<mestring_oidc::ClientSettings>, ConfigError> {
    // The names are fixed strings per prefix, so errors can name them.
    let names: [&'static str; 5] = match prefix {
        "MESTRING_OIDC_LAUNCH" => [
            "MESTRING_OIDC_LAUNCH_ISSUER",
            "MESTRING_OIDC_LAUNCH_CLIENT_ID",
            "MESTRING_OIDC_LAUNCH_CLIENT_SECRET",
            "MESTRING_OIDC_LAUNCH_CLIENT_KEY_FILE",
            "MESTRING_OIDC_LAUNCH_CLIENT_KEY_ID",
        ],
        _ => [
            "MESTRING_OIDC_HELSEID_ISSUER",
            "MESTRING_OIDC_HELSEID_CLIENT_ID",
            "MESTRING_OIDC_HELSEID_CLIENT_SECRET",
            "MESTRING_OIDC_HELSEID_CLIENT_KEY_FILE",
            "MESTRING_OIDC_HELSEID_CLIENT_KEY_ID",
        ],
    };
    let [issuer_var, id_var, secret_var, key_var, kid_var] = names;
    let (issuer, id, secret, key) = (var(issuer_var), var(id_var), var(secret_var), var(key_var));
    if issuer.is_none() && id.is_none() && secret.is_none() && key.is_none() {
        return Ok(None);
    }
    let issuer =
        issuer.ok_or_else(|| invalid(issuer_var, format!("needed when {id_var} is set")))?;
    let client_id =
        id.ok_or_else(|| invalid(id_var, format!("needed when {issuer_var} is set")))?;
    let auth = match (secret, key) {
        (Some(s), None) => mestring_oidc::ClientAuth::Secret(s.trim().to_owned()),
        (None, Some(k)) => mestring_oidc::ClientAuth::PrivateKeyJwt {
            key_file: PathBuf::from(k.trim()),
            key_id: var(kid_var).map(|v| v.trim().to_owned()),
        },
        (None, None) => {
            return Err(invalid(
                secret_var,
                format!("or {key_var} is needed when {issuer_var} is set"),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                key_var,
                format!("set either {secret_var} or {key_var}, not both"),
            ));
        }
    };
    let issuer = checked_issuer(&issuer).ok_or_else(|| {
        invalid(
            issuer_var,
            "must start with https:// (http:// only for 127.0.0.1 or localhost)",
        )
    })?;
    Ok(Some(mestring_oidc::ClientSettings {
        issuer,
        client_id: client_id.trim().to_owned(),
        auth,
    }))
}

/// Comma-separated organisation ids.
fn org_ids(list: &str) -> Result<Vec<mestring_domain::id::Id>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            mestring_domain::id::Id::parse(s)
                .map_err(|_| "comma-separated organisation ids (mestring org list)".to_owned())
        })
        .collect()
}

/// A launch channel in `MESTRING_OIDC_LAUNCH_FILE`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchEntry {
    channel: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    client_key_file: Option<PathBuf>,
    client_key_id: Option<String>,
    #[serde(default)]
    orgs: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchFile {
    #[serde(default)]
    launch: Vec<LaunchEntry>,
}

/// Reads the launch channels file (TOML, one `[[launch]]` table per
/// channel; docs/oidc.md). The message names the entry and the problem,
/// never a secret.
fn launch_file(path: &std::path::Path) -> Result<Vec<mestring_oidc::LaunchSettings>, String> {
    use mestring_domain::channel::ChannelSlug;

    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: LaunchFile = toml::from_str(&text).map_err(|e| {
        // toml's message quotes the offending line, which may hold a secret.
        let at = e
            .span()
            .map(|s| format!(" at byte {}", s.start))
            .unwrap_or_default();
        format!("{} is not a valid launch file{at}", path.display())
    })?;
    let mut out: Vec<mestring_oidc::LaunchSettings> = Vec::new();
    for (i, e) in file.launch.into_iter().enumerate() {
        let n = i + 1;
        let channel = ChannelSlug::parse(e.channel.trim())
            .map_err(|_| format!("launch {n}: channel must be a slug (a-z, 0-9, -)"))?;
        if out.iter().any(|o| o.channel == channel) {
            return Err(format!("channel {} is configured twice", channel.as_str()));
        }
        let auth = match (e.client_secret, e.client_key_file) {
            (Some(s), None) => mestring_oidc::ClientAuth::Secret(s),
            (None, Some(k)) => mestring_oidc::ClientAuth::PrivateKeyJwt {
                key_file: k,
                key_id: e.client_key_id,
            },
            _ => {
                return Err(format!(
                    "launch {n} ({}): set client_secret or client_key_file, one of them",
                    channel.as_str()
                ));
            }
        };
        let issuer = checked_issuer(&e.issuer)
            .ok_or_else(|| format!("launch {n} ({}): the issuer must start with https:// (http:// only for 127.0.0.1 or localhost)", channel.as_str()))?;
        let orgs = org_ids(&e.orgs.join(","))
            .map_err(|p| format!("launch {n} ({}): orgs: {p}", channel.as_str()))?;
        out.push(mestring_oidc::LaunchSettings {
            channel,
            client: mestring_oidc::ClientSettings {
                issuer,
                client_id: e.client_id.trim().to_owned(),
                auth,
            },
            orgs,
        });
    }
    Ok(out)
}

/// The issuer without a trailing slash, if it is TLS or loopback HTTP.
fn checked_issuer(issuer: &str) -> Option<String> {
    let issuer = issuer.trim().trim_end_matches('/').to_owned();
    // Plain HTTP only to this machine (a test provider); anything else must
    // be TLS, or tokens and secrets cross the network in the clear.
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| issuer.starts_with(p));
    (issuer.starts_with("https://") || loopback).then_some(issuer)
}

fn oidc_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<mestring_oidc::Settings, ConfigError> {
    use mestring_domain::channel::ChannelSlug;

    let launch_client = oidc_client(var, "MESTRING_OIDC_LAUNCH")?;
    let mut launch = Vec::new();
    if let Some(client) = launch_client {
        let channel = var("MESTRING_OIDC_LAUNCH_CHANNEL")
            .ok_or_else(|| {
                invalid(
                    "MESTRING_OIDC_LAUNCH_CHANNEL",
                    "needed when the launch issuer is set (e.g. helsenorge)",
                )
            })
            .and_then(|c| {
                ChannelSlug::parse(c.trim()).map_err(|_| {
                    invalid(
                        "MESTRING_OIDC_LAUNCH_CHANNEL",
                        "a channel slug: lower-case letters, digits and -",
                    )
                })
            })?;
        let orgs = org_ids(&var("MESTRING_OIDC_LAUNCH_ORGS").unwrap_or_default())
            .map_err(|p| invalid("MESTRING_OIDC_LAUNCH_ORGS", p))?;
        launch.push(mestring_oidc::LaunchSettings {
            channel,
            client,
            orgs,
        });
    }
    if let Some(path) = var("MESTRING_OIDC_LAUNCH_FILE") {
        for l in launch_file(std::path::Path::new(path.trim()))
            .map_err(|p| invalid("MESTRING_OIDC_LAUNCH_FILE", p))?
        {
            if launch.iter().any(|o| o.channel == l.channel) {
                return Err(invalid(
                    "MESTRING_OIDC_LAUNCH_FILE",
                    format!("channel {} is configured twice", l.channel.as_str()),
                ));
            }
            launch.push(l);
        }
    }
    let helseid_client = oidc_client(var, "MESTRING_OIDC_HELSEID")?;
    let helseid = match helseid_client {
        Some(client) => {
            let orgs = var("MESTRING_OIDC_HELSEID_ORGS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(s.to_owned())
                    } else {
                        Err(invalid(
                            "MESTRING_OIDC_HELSEID_ORGS",
                            "comma-separated organisation numbers of 9 digits",
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(mestring_oidc::HelseIdSettings { client, orgs })
        }
        None => None,
    };
    Ok(mestring_oidc::Settings { launch, helseid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = from(&[]).expect("defaults are valid");
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite("data/mestring.sqlite3".into())
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.security_log_days, 30);
        assert_eq!(c.shutdown_grace_secs, 30);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = from(&[("MESTRING_DATABASE_URL", "mysql://x")]).expect_err("rejected");
        assert!(e.to_string().starts_with("MESTRING_DATABASE_URL"));
        let e = from(&[("MESTRING_LISTEN", "nope")]).expect_err("rejected");
        assert!(e.to_string().starts_with("MESTRING_LISTEN"));
        let e = from(&[("MESTRING_AGGREGATES_K", "4")]).expect_err("k below the policy");
        assert!(e.to_string().starts_with("MESTRING_AGGREGATES_K"), "{e}");
        let e = from(&[("MESTRING_AGGREGATES_MAX_AGE_SECS", "-1")]).expect_err("negative age");
        assert!(
            e.to_string()
                .starts_with("MESTRING_AGGREGATES_MAX_AGE_SECS"),
            "{e}"
        );
        let c = from(&[("MESTRING_AGGREGATES_K", "7")]).expect("k raised");
        assert_eq!(c.aggregates_k.get(), 7);
        let e = from(&[("MESTRING_SECURITY_LOG_DAYS", "0")]).expect_err("rejected");
        assert!(e.to_string().starts_with("MESTRING_SECURITY_LOG_DAYS"));
        let e = from(&[("MESTRING_STRIPE_SECRET_KEY", "sk_test_x")]).expect_err("half");
        assert!(
            e.to_string().starts_with("MESTRING_STRIPE_WEBHOOK_SECRET"),
            "{e}"
        );
        let c = from(&[
            ("MESTRING_STRIPE_SECRET_KEY", "sk_test_secretvalue"),
            ("MESTRING_STRIPE_WEBHOOK_SECRET", "whsec_secretvalue"),
        ])
        .expect("both keys");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secretvalue"), "keys in Debug: {shown}");
        assert!(from(&[]).expect("defaults").stripe.is_none());
        let e = from(&[("MESTRING_SHUTDOWN_GRACE_SECS", "0")]).expect_err("rejected");
        assert!(e.to_string().starts_with("MESTRING_SHUTDOWN_GRACE_SECS"));
    }

    #[test]
    fn oidc_settings_come_whole_or_not_at_all_and_only_over_tls() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            Config::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let none = with(&[]).expect("valid");
        assert!(none.oidc.launch.is_empty() && none.oidc.helseid.is_none());

        let helseid = with(&[
            ("MESTRING_OIDC_HELSEID_ISSUER", "https://helseid-sts.nhn.no"),
            ("MESTRING_OIDC_HELSEID_CLIENT_ID", "client"),
            ("MESTRING_OIDC_HELSEID_CLIENT_SECRET", "very-secret"),
            ("MESTRING_OIDC_HELSEID_ORGS", "999888777, 111222333"),
        ])
        .expect("valid");
        let h = helseid.oidc.helseid.as_ref().expect("on");
        assert_eq!(h.orgs, ["999888777", "111222333"]);
        assert!(
            !format!("{helseid:?}").contains("very-secret"),
            "Debug redacts"
        );

        let missing = with(&[
            ("MESTRING_OIDC_HELSEID_ISSUER", "https://helseid-sts.nhn.no"),
            ("MESTRING_OIDC_HELSEID_CLIENT_ID", "client"),
        ])
        .expect_err("no secret");
        assert!(
            missing
                .to_string()
                .contains("MESTRING_OIDC_HELSEID_CLIENT_SECRET")
        );

        let plain = with(&[
            ("MESTRING_OIDC_HELSEID_ISSUER", "http://idp.example"),
            ("MESTRING_OIDC_HELSEID_CLIENT_ID", "client"),
            ("MESTRING_OIDC_HELSEID_CLIENT_SECRET", "s"),
        ])
        .expect_err("plain http elsewhere than loopback");
        assert!(plain.to_string().contains("https://"));

        let bad_org = with(&[
            ("MESTRING_OIDC_HELSEID_ISSUER", "http://127.0.0.1:9"),
            ("MESTRING_OIDC_HELSEID_CLIENT_ID", "client"),
            ("MESTRING_OIDC_HELSEID_CLIENT_SECRET", "s"),
            ("MESTRING_OIDC_HELSEID_ORGS", "12345"),
        ])
        .expect_err("org numbers have 9 digits");
        assert!(bad_org.to_string().contains("MESTRING_OIDC_HELSEID_ORGS"));

        let no_channel = with(&[
            ("MESTRING_OIDC_LAUNCH_ISSUER", "https://portal.example"),
            ("MESTRING_OIDC_LAUNCH_CLIENT_ID", "client"),
            ("MESTRING_OIDC_LAUNCH_CLIENT_SECRET", "s"),
        ])
        .expect_err("a launch needs its channel");
        assert!(
            no_channel
                .to_string()
                .contains("MESTRING_OIDC_LAUNCH_CHANNEL")
        );
    }

    #[test]
    fn launch_channels_come_from_a_file_too_each_once() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("launch.toml");
        std::fs::write(
            &file,
            r#"
[[launch]]
channel = "helsenorge"
issuer = "https://portal.example"
client_id = "a"
client_secret = "secret-in-file"

[[launch]]
channel = "region-vest"
issuer = "https://other.example/"
client_id = "b"
client_key_file = "/etc/mestring/b.pem"
orgs = ["0d4gyd4xjc7knr3d6xgjsn19qk"]
"#,
        )
        .expect("write");
        let path = file.display().to_string();
        let config =
            Config::from_lookup(|k| (k == "MESTRING_OIDC_LAUNCH_FILE").then(|| path.clone()))
                .expect("valid");
        let slugs: Vec<&str> = config
            .oidc
            .launch
            .iter()
            .map(|l| l.channel.as_str())
            .collect();
        assert_eq!(slugs, ["helsenorge", "region-vest"]);
        assert_eq!(config.oidc.launch[1].client.issuer, "https://other.example");
        assert_eq!(config.oidc.launch[1].orgs.len(), 1);
        assert!(!format!("{config:?}").contains("secret-in-file"));

        // The same channel in the environment and the file: refused.
        let twice = Config::from_lookup(|k| match k {
            "MESTRING_OIDC_LAUNCH_FILE" => Some(path.clone()),
            "MESTRING_OIDC_LAUNCH_CHANNEL" => Some("helsenorge".into()),
            "MESTRING_OIDC_LAUNCH_ISSUER" => Some("https://portal.example".into()),
            "MESTRING_OIDC_LAUNCH_CLIENT_ID" => Some("a".into()),
            "MESTRING_OIDC_LAUNCH_CLIENT_SECRET" => Some("s".into()),
            _ => None,
        })
        .expect_err("twice");
        assert!(twice.to_string().contains("configured twice"));

        // A broken file names itself, not the secret on the broken line.
        std::fs::write(
            &file,
            "[[launch]]\nclient_secret = \"leak-me\"\nchannel = 7\n",
        )
        .expect("write");
        let broken =
            Config::from_lookup(|k| (k == "MESTRING_OIDC_LAUNCH_FILE").then(|| path.clone()))
                .expect_err("broken");
        assert!(broken.to_string().contains("not a valid launch file"));
        assert!(!broken.to_string().contains("leak-me"));

        // Plain HTTP to another machine: refused.
        std::fs::write(
            &file,
            "[[launch]]\nchannel = \"x\"\nissuer = \"http://portal.example\"\nclient_id = \"a\"\nclient_secret = \"s\"\n",
        )
        .expect("write");
        let plain =
            Config::from_lookup(|k| (k == "MESTRING_OIDC_LAUNCH_FILE").then(|| path.clone()))
                .expect_err("plain http");
        assert!(plain.to_string().contains("https://"));
    }
}
