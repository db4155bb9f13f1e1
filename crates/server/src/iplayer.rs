//! Wiring the IP layer (crate `mestring-ipcrypt`) to the database, the
//! key file and the operator's commands.

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use mestring_domain::clock::Clock;
use mestring_ipcrypt::{
    IpState, IpStateConfig, KeyId, SealingKeyRing, SecurityEvent, SecurityEventKind,
    SecurityEventSink, TagKey, TagKeys,
};
use mestring_store::security::{AuditRow, IpBlocks, NewAudit, SecurityEventRow, TagKeyRow};
use mestring_store::{Store, StoreError};
use mestring_web::AppState;
use rand::RngCore;

use crate::config::Config;

pub use crate::keys::KEYRING_FILE;

pub(crate) fn keyring_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYRING_FILE)
}

/// Writes security events to the database without blocking the request.
struct StoreSink {
    store: Store,
}

impl SecurityEventSink for StoreSink {
    fn record(&self, event: SecurityEvent) {
        let store = self.store.clone();
        let write = async move {
            let result = store
                .run(move |conn| {
                    SecurityEventRow::insert(
                        conn,
                        event.at,
                        event.kind.as_str(),
                        &event.tag_hex,
                        i64::from(event.sealed.key_id().get()),
                        event.sealed.as_bytes(),
                    )
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "failed to write a security event");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(write);
            }
            Err(_) => tracing::error!("security event outside a runtime was dropped"),
        }
    }
}

/// The UTC day a tag key is current for.
fn day_id(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Loads today's tag key (creating it if no instance has) and yesterday's.
async fn load_tag_keys(store: &Store, now: DateTime<Utc>) -> anyhow::Result<TagKeys> {
    let today = day_id(now);
    let yesterday = day_id(now - Duration::days(1));
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let (current, previous) = store
        .run(move |conn| {
            let current = TagKeyRow::get_or_create(conn, &today, &fresh, now)?;
            let previous = TagKeyRow::find(conn, &yesterday)?;
            Ok((current, previous))
        })
        .await?;
    let to_key = |row: TagKeyRow| -> anyhow::Result<TagKey> {
        let secret: [u8; 32] = row
            .secret
            .as_slice()
            .try_into()
            .context("stored tag key has the wrong length")?;
        Ok(TagKey { id: row.id, secret })
    };
    Ok(TagKeys::new(
        to_key(current)?,
        previous.map(to_key).transpose()?,
    ))
}

async fn load_blocks(store: &Store, now: DateTime<Utc>) -> anyhow::Result<HashSet<String>> {
    Ok(store
        .run(move |conn| IpBlocks::active(conn, now))
        .await?
        .into_iter()
        .collect())
}

/// Builds the IP layer's state for the server.
pub async fn build_state(
    config: &Config,
    store: &Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<IpState>> {
    let ring = SealingKeyRing::load_or_create(&keyring_path(&config.data_dir))
        .context("failed to load the IP sealing key file")?;
    let now = clock.now();
    let tag_keys = load_tag_keys(store, now).await?;
    let mut ip_config = IpStateConfig::new(
        config.trusted_proxies.clone(),
        tag_keys,
        Arc::new(ring),
        Arc::new(StoreSink {
            store: store.clone(),
        }),
    );
    ip_config.now = Arc::new(move || clock.now());
    let state = Arc::new(IpState::new(ip_config));
    state.set_blocked(load_blocks(store, now).await?);
    Ok(state)
}

/// Frequent refresh: the day's tag keys, blocks, and the key file (after
/// a rotation by the CLI). Cheap enough to run every minute.
pub async fn refresh(state: &AppState, data_dir: &Path) -> anyhow::Result<()> {
    let now = state.clock.now();
    if state.ip.current_tag_key_id() != day_id(now) {
        state
            .ip
            .set_tag_keys(load_tag_keys(&state.store, now).await?);
    }
    state.ip.set_blocked(load_blocks(&state.store, now).await?);
    let ring = SealingKeyRing::load(&keyring_path(data_dir))
        .context("failed to reload the IP key file")?;
    state.ip.set_sealing_keys(Arc::new(ring));
    Ok(())
}

/// The slow part of keeping keys: deletes tag keys older than 48 hours and
/// destroys sealing keys no security-log row uses any more
/// (crypto-shredding). Part of the hourly sweep.
pub async fn retire_keys(state: &AppState, data_dir: &Path) -> anyhow::Result<()> {
    let now = state.clock.now();
    let purged_keys = state
        .store
        .run(move |conn| TagKeyRow::purge_old(conn, now))
        .await?;
    if purged_keys > 0 {
        tracing::info!(purged_keys, "old IP tag keys deleted");
    }
    // Reload the key file first, so this instance never seals under a key
    // that is about to be destroyed.
    let path = keyring_path(data_dir);
    let mut ring = SealingKeyRing::load(&path).context("failed to reload the IP key file")?;
    let in_use = sealing_keys_in_use(&state.store).await?;
    let destroyed = ring.destroy_unused(&path, &in_use)?;
    if !destroyed.is_empty() {
        tracing::info!(count = destroyed.len(), "unused IP sealing keys destroyed");
    }
    state.ip.set_sealing_keys(Arc::new(ring));
    Ok(())
}

async fn sealing_keys_in_use(store: &Store) -> anyhow::Result<HashSet<KeyId>> {
    Ok(store
        .run(SecurityEventRow::key_ids_in_use)
        .await?
        .into_iter()
        .filter_map(|id| u32::try_from(id).ok().map(KeyId::new))
        .collect())
}

/// `mestring ip …`.
#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// Break-glass: print `time kind ip` for matching security events.
    /// Every use is written to the audit log with its reason.
    Reveal {
        /// Why the addresses are needed (stored in the audit log).
        #[arg(long)]
        reason: String,
        /// How far back, e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only events of this kind (failed_login, throttled, blocked, bad_csrf, …).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Refuse every request from an address (403).
    Block {
        /// The address.
        ip: String,
        /// For how long, e.g. 24h; without it the block stays until lifted.
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Lift a block.
    Unblock {
        /// The address.
        ip: String,
    },
}

/// `mestring keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create every missing key file in the data directory (the code
    /// pepper, the data-sealing key, the IP sealing keys); keeps existing
    /// ones. Run once before the first start.
    Init,
    /// Add a new current IP sealing key; old keys stay until no row uses them.
    RotateIp,
    /// Start a new key-encryption key now, re-wrap every account's data
    /// key under it, and destroy retired ones that are past their grace
    /// period (the hourly maintenance does this every 12 hours by itself).
    RotateData,
}

/// Parses `30s`, `15m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 100_000)
        .with_context(|| format!("{s:?} is not a duration like 30m, 24h or 7d"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => anyhow::bail!("{s:?} is not a duration like 30m, 24h or 7d"),
    }
}

fn parse_ip(s: &str) -> anyhow::Result<IpAddr> {
    s.trim()
        .parse::<IpAddr>()
        .map(mestring_ipcrypt::normalise)
        .map_err(|_| anyhow::anyhow!("not an IP address"))
}

/// Runs an `ip` subcommand.
pub async fn run_ip_command(
    command: IpCommand,
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    let ring = SealingKeyRing::load_or_create(&keyring_path(&config.data_dir))
        .context("failed to load the IP sealing key file")?;
    let now = clock.now();
    let actor = crate::corrections::operator();
    match command {
        IpCommand::Reveal {
            reason,
            since,
            kind,
        } => {
            let reason = reason.trim().to_owned();
            anyhow::ensure!(
                reason.chars().count() >= 3,
                "--reason must say why (at least 3 characters)"
            );
            if let Some(k) = &kind {
                anyhow::ensure!(
                    SecurityEventKind::parse(k).is_some(),
                    "unknown --kind; use one of failed_login, throttled, blocked, bad_csrf, bad_webhook, oidc_refused"
                );
            }
            let from = now - parse_duration(&since)?;
            let rows = store
                .run(move |conn| SecurityEventRow::list_since(conn, from, kind.as_deref()))
                .await?;
            let mut lines = Vec::with_capacity(rows.len());
            let mut unreadable = 0usize;
            for row in &rows {
                match ring.open(&row.sealed_ip, &row.kind, row.at) {
                    Ok(ip) => lines.push(format!("{} {} {}", row.at.to_rfc3339(), row.kind, ip)),
                    Err(_) => unreadable += 1,
                }
            }
            let count = i64::try_from(lines.len()).unwrap_or(i64::MAX);
            // The audit row is written before anything is shown.
            audit_operator(&store, now, "ip_reveal", reason, count).await?;
            let mut out = std::io::stdout().lock();
            for line in lines {
                writeln!(out, "{line}")?;
            }
            if unreadable > 0 {
                eprintln!("{unreadable} row(s) could not be opened (key destroyed or row altered)");
            }
            Ok(())
        }
        IpCommand::Block { ip, duration } => {
            let ip = parse_ip(&ip)?;
            let until = duration
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .map(|d| now + d);
            let hash = ring.block_hash(ip);
            // One transaction: the block's delete and insert and its audit
            // row stand or fall together, so a failure neither lifts an
            // existing block nor leaves a change without its audit row.
            store
                .transaction(move |conn| {
                    IpBlocks::block(conn, &hash, until, now)?;
                    AuditRow::insert(
                        conn,
                        &NewAudit {
                            at: now,
                            actor: &actor,
                            action: "ip_block",
                            subject: "",
                            reason: "operator block",
                            row_count: 1,
                        },
                    )
                })
                .await?;
            match until {
                Some(t) => eprintln!("blocked until {}", t.to_rfc3339()),
                None => eprintln!("blocked until lifted with `mestring ip unblock`"),
            }
            eprintln!("running servers apply it within a minute");
            Ok(())
        }
        IpCommand::Unblock { ip } => {
            let hash = ring.block_hash(parse_ip(&ip)?);
            // As the block: the block is lifted only with its audit row.
            let existed = store
                .transaction(move |conn| {
                    let existed = IpBlocks::unblock(conn, &hash)?;
                    AuditRow::insert(
                        conn,
                        &NewAudit {
                            at: now,
                            actor: &actor,
                            action: "ip_unblock",
                            subject: "",
                            reason: "operator unblock",
                            row_count: i64::from(existed),
                        },
                    )?;
                    Ok(existed)
                })
                .await?;
            eprintln!(
                "{}",
                if existed {
                    "block lifted"
                } else {
                    "that address was not blocked"
                }
            );
            Ok(())
        }
    }
}

/// Runs a `keys` subcommand.
pub async fn run_keys_command(
    command: KeysCommand,
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Init => {
            let dir = &config.data_dir;
            let files = [
                (dir.join(crate::keys::PEPPER_FILE), "access-code pepper"),
                (dir.join(crate::keys::SEAL_FILE), "data-sealing key"),
                (keyring_path(dir), "IP sealing keys"),
                (dir.join(crate::keys::KEK_DIR), "key-encryption keys"),
                (
                    dir.join(crate::keys::LEDGER_KEY_FILE),
                    "deletion-ledger key",
                ),
            ];
            let existed: Vec<bool> = files.iter().map(|(p, _)| p.exists()).collect();
            // Opening the store creates missing key files on a fresh
            // database, records their fingerprints, and refuses files that
            // do not match the database (crate::keys::provision).
            let store = crate::db::open_cli_store(config).await?;
            let keks = crate::keys::keks(dir, clock.now())?;
            crate::keys::check_keks(&store, &keks, dir).await?;
            for ((path, what), existed) in files.iter().zip(existed) {
                let verb = if existed { "kept" } else { "created" };
                eprintln!("{verb} {what}: {}", path.display());
            }
            Ok(())
        }
        KeysCommand::RotateIp => {
            // The store first: it refuses a key file that is not the
            // database's before this one is changed.
            let store = crate::db::open_cli_store(config).await?;
            let path = keyring_path(&config.data_dir);
            let mut ring = SealingKeyRing::load_or_create(&path)
                .context("failed to load the IP sealing key file")?;
            let id = audited_change(
                &store,
                Audited {
                    at: clock.now(),
                    action: "ip_key_rotate",
                    reason: "operator rotation".into(),
                },
                move |_| {
                    let id = ring
                        .rotate(&path)
                        .map_err(|e| StoreError::Keys(e.to_string()))?;
                    Ok((id, 1))
                },
            )
            .await?;
            eprintln!(
                "new current IP sealing key: {id}; running servers pick it up within a minute"
            );
            Ok(())
        }
        KeysCommand::RotateData => {
            let store = crate::db::open_cli_store(config).await?;
            let now = clock.now();
            let keks = crate::keys::keks(&config.data_dir, now)?;
            let ring = keks.clone();
            // The new KEK and the audit row first, together; the re-wrap
            // is the same pass the maintenance runs, and is resumable.
            let created = audited_change(
                &store,
                Audited {
                    at: now,
                    action: "data_key_rotate",
                    reason: "operator rotation".into(),
                },
                move |conn| {
                    // Every data key is wrapped under an older KEK once
                    // the new one exists: all of them are to be re-wrapped.
                    let to_rewrap = mestring_store::account_keys::count(conn)?;
                    let created = ring
                        .reload()
                        .and_then(|snapshot| snapshot.create_next(now.timestamp()))
                        .map_err(|e| StoreError::Keys(e.to_string()))?;
                    Ok((created, to_rewrap))
                },
            )
            .await?;
            let report = crate::keys::rotate_keks(&store, &keks, now, false).await?;
            match created {
                Some(id) => eprintln!("new current key-encryption key: {id}"),
                None => eprintln!("another process started a new key-encryption key first"),
            }
            eprintln!("data keys re-wrapped: {}", report.rewrapped);
            if report.destroyed.is_empty() {
                eprintln!(
                    "retired keys are destroyed {} minutes after retirement, by the next \
                     rotation or maintenance sweep",
                    mestring_domain::policy::shredding::RETIRED_GRACE.num_minutes()
                );
            } else {
                eprintln!("destroyed key-encryption keys: {:?}", report.destroyed);
            }
            if report.unopenable > 0 {
                anyhow::bail!(
                    "{} data keys are wrapped under a missing key-encryption key; their data \
                     cannot be read",
                    report.unopenable
                );
            }
            Ok(())
        }
    }
}

/// Writes the operator audit row of a command that changes nothing else
/// in the same transaction (`subject` empty; the operator from the
/// environment).
async fn audit_operator(
    store: &mestring_store::Store,
    now: chrono::DateTime<chrono::Utc>,
    action: &'static str,
    reason: String,
    row_count: i64,
) -> anyhow::Result<()> {
    let actor = crate::corrections::operator();
    store
        .run(move |conn| {
            AuditRow::insert(
                conn,
                &NewAudit {
                    at: now,
                    actor: &actor,
                    action,
                    subject: "",
                    reason: &reason,
                    row_count,
                },
            )
        })
        .await?;
    Ok(())
}

/// The operator audit row of a command whose change is outside the
/// database (a key file).
struct Audited {
    at: DateTime<Utc>,
    action: &'static str,
    reason: String,
}

/// Runs `change` (which returns its result and the audit row's row count)
/// and writes its operator audit row, so that no change goes unrecorded
/// and no row records a change that did not happen.
///
/// A key file cannot share a transaction with a row, so the file is
/// changed inside the transaction that then inserts the row: a change that
/// fails leaves no row. If the insert or the commit fails after the change,
/// the row is written again in a transaction of its own; if that fails
/// too, the command fails saying the change was made. Only a crash between
/// the change and the commit leaves a change without its row (the key file
/// itself dates the change).
async fn audited_change<T, F>(store: &Store, audit: Audited, change: F) -> anyhow::Result<T>
where
    T: Clone + Send + 'static,
    F: FnOnce(&mut mestring_store::DbConn) -> Result<(T, i64), StoreError> + Send + 'static,
{
    let actor = crate::corrections::operator();
    let done = Arc::new(std::sync::Mutex::new(None));
    let attempt = {
        let (actor, reason, done) = (actor.clone(), audit.reason.clone(), Arc::clone(&done));
        store
            .transaction(move |conn| {
                let (value, row_count) = change(conn)?;
                *done.lock().unwrap_or_else(|p| p.into_inner()) = Some((value.clone(), row_count));
                AuditRow::insert(
                    conn,
                    &NewAudit {
                        at: audit.at,
                        actor: &actor,
                        action: audit.action,
                        subject: "",
                        reason: &reason,
                        row_count,
                    },
                )?;
                Ok(value)
            })
            .await
    };
    let failed = match attempt {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let Some((value, row_count)) = done.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        // Nothing changed.
        return Err(failed.into());
    };
    audit_operator(store, audit.at, audit.action, audit.reason, row_count)
        .await
        .with_context(|| {
            format!(
                "the change was made but its audit row could not be written ({failed}); \
                 record it by hand"
            )
        })?;
    Ok(value)
}

/// `mestring audit list`.
pub async fn list_audit(config: &Config) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    let rows = store.run(AuditRow::list).await?;
    let mut out = std::io::stdout().lock();
    for row in rows {
        writeln!(
            out,
            "{} {} rows={} reason={:?} by={} subject={}",
            row.at.to_rfc3339(),
            row.action,
            row.row_count,
            row.reason,
            row.actor,
            if row.subject.is_empty() {
                "-"
            } else {
                &row.subject
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h").expect("ok"), Duration::hours(24));
        assert_eq!(parse_duration("7d").expect("ok"), Duration::days(7));
        assert_eq!(parse_duration("30m").expect("ok"), Duration::minutes(30));
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("h").is_err());
    }

    /// A key change and its audit row: a failed change leaves no row; a
    /// row that fails after the change is written again; a row that
    /// cannot be written at all fails the command saying the change was
    /// made.
    #[test]
    fn a_change_outside_the_database_is_audited_exactly_when_it_happens() {
        let dir = tempfile::tempdir().expect("dir");
        let url = mestring_store::DatabaseUrl::parse(&format!(
            "sqlite://{}/db.sqlite",
            dir.path().display()
        ))
        .expect("url");
        let store = Store::connect(&url, 1).expect("store");
        store.migrate().expect("migrate");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let audit = || Audited {
            at: Utc::now(),
            action: "ip_key_rotate",
            reason: "operator rotation".into(),
        };
        let rows = || {
            store
                .run_blocking(AuditRow::list)
                .expect("list")
                .into_iter()
                .map(|row| (row.action, row.row_count))
                .collect::<Vec<_>>()
        };
        // A refusal that SQLite rolls back with the transaction that
        // created it: only the first insert meets it.
        let refuse_in_transaction = |conn: &mut mestring_store::DbConn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.audit_log \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .map_err(StoreError::from)
        };

        let failed = runtime.block_on(audited_change(&store, audit(), |_| {
            Err::<(u32, i64), _>(StoreError::Keys("the key file is not writable".into()))
        }));
        assert!(failed.is_err());
        assert!(rows().is_empty(), "a failed change leaves no row");

        let id = runtime
            .block_on(audited_change(&store, audit(), |_| Ok((7u32, 3))))
            .expect("changed");
        assert_eq!(id, 7);
        assert_eq!(rows(), vec![("ip_key_rotate".to_owned(), 3)]);

        let id = runtime
            .block_on(audited_change(&store, audit(), move |conn| {
                refuse_in_transaction(conn)?;
                Ok((8u32, 1))
            }))
            .expect("the row is written again after the change");
        assert_eq!(id, 8);
        assert_eq!(rows().len(), 2, "{:?}", rows());

        store
            .run_blocking(|conn| {
                use diesel::connection::SimpleConnection;
                conn.batch_execute(
                    "CREATE TRIGGER refuse_always BEFORE INSERT ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'refused'); END",
                )
                .map_err(StoreError::from)
            })
            .expect("trigger");
        let unrecorded = runtime
            .block_on(audited_change(&store, audit(), |_| Ok((9u32, 1))))
            .expect_err("no row can be written");
        assert!(
            format!("{unrecorded:#}").contains("the change was made"),
            "{unrecorded:#}"
        );
        assert_eq!(rows().len(), 2);
    }
}
