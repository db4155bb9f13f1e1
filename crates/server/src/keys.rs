//! Secret key files in the data directory (0600, created atomically on
//! first use; see `mestring_crypto::keyfile`).

use std::path::Path;

use mestring_crypto::keyfile::load_or_create_secret;
use mestring_domain::access_code::CodePepper;

/// File name of the access-code pepper.
pub const PEPPER_FILE: &str = "code-pepper.key";

/// File name of the key that seals TOTP secrets and pseudonyms.
pub const SEAL_FILE: &str = "data-seal.key";

/// File name of the IP sealing key ring (and its stable block-hash key).
pub const KEYRING_FILE: &str = "ip-sealing.keys";

/// Directory of the key-encryption keys (crypto-shredding).
pub const KEK_DIR: &str = "data-keys";

/// The key-encryption keys of this installation, the first one created
/// (dated `now`) if there are none.
pub fn keks(
    data_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<mestring_crypto::shred::SharedKekRing> {
    Ok(mestring_crypto::shred::SharedKekRing::open(
        &data_dir.join(KEK_DIR),
        now.timestamp(),
        std::time::Duration::from_secs(mestring_domain::policy::shredding::RING_RELOAD_SECS),
    )?)
}

/// Seals what an older version stored in clear (see
/// `mestring_store::legacy::seal_legacy`); logs how much.
pub async fn seal_legacy(
    store: &mestring_store::Store,
    keks: &mestring_crypto::shred::SharedKekRing,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<usize> {
    let keks = keks.clone();
    let sealed = store
        .run(move |conn| mestring_store::legacy::seal_legacy(conn, &keks, now))
        .await?;
    if sealed > 0 {
        tracing::warn!(
            sealed,
            "sealed text stored in clear by an older version; see docs/deletion.md (upgrading)"
        );
        store.checkpoint().await?;
    }
    Ok(sealed)
}

/// One key-encryption-key rotation pass (`account_keys::rotate`);
/// `force` starts a new KEK even if the current one is not due. Logs what
/// it did (counts and key ids only).
pub async fn rotate_keks(
    store: &mestring_store::Store,
    keks: &mestring_crypto::shred::SharedKekRing,
    now: chrono::DateTime<chrono::Utc>,
    force: bool,
) -> anyhow::Result<mestring_store::account_keys::Rotation> {
    let ring = keks.clone();
    let report = store
        .run(move |conn| mestring_store::account_keys::rotate(conn, &ring, now, force))
        .await?;
    if report.created.is_some() || report.rewrapped > 0 || !report.destroyed.is_empty() {
        tracing::info!(
            created = ?report.created,
            rewrapped = report.rewrapped,
            destroyed = ?report.destroyed,
            "key-encryption keys rotated"
        );
        // Re-wrapped rows leave their old bytes in the SQLite WAL until a
        // checkpoint; the destroyed KEK makes them useless, this makes
        // them gone.
        store.checkpoint().await?;
    }
    Ok(report)
}

/// File name of the deletion ledger.
pub const LEDGER_FILE: &str = "deletions.ledger";
/// File name of the deletion ledger's key.
pub const LEDGER_KEY_FILE: &str = "deletion-ledger.key";

/// The deletion ledger of this installation.
pub fn ledger(data_dir: &Path) -> anyhow::Result<mestring_crypto::ledger::DeletionLedger> {
    Ok(mestring_crypto::ledger::DeletionLedger::open(
        &data_dir.join(LEDGER_FILE),
        &data_dir.join(LEDGER_KEY_FILE),
    )?)
}

/// The access-code pepper of this installation.
pub fn pepper(data_dir: &Path) -> anyhow::Result<CodePepper> {
    let secret = load_or_create_secret(&data_dir.join(PEPPER_FILE))?;
    Ok(CodePepper::from_bytes(*secret.expose()))
}

/// The data-sealing key of this installation.
pub fn seal_key(data_dir: &Path) -> anyhow::Result<mestring_web::seal::SealKey> {
    let secret = load_or_create_secret(&data_dir.join(SEAL_FILE))?;
    Ok(mestring_web::seal::SealKey::from_bytes(*secret.expose()))
}

/// One secret the database must agree on with every node.
struct Provisioned {
    /// The name its fingerprint is stored under.
    name: &'static str,
    /// Its file (or directory) in the data directory.
    file: &'static str,
    /// What it is, for messages.
    what: &'static str,
}

/// The key files every node must share. The IP sealing keys and the
/// key-encryption keys rotate, so their stable part is checked instead:
/// the IP ring's block-hash key by fingerprint, and the KEKs by opening a
/// data key wrapped under each one in use ([`check_keks`]).
const PROVISIONED: [Provisioned; 5] = [
    Provisioned {
        name: "code-pepper",
        file: PEPPER_FILE,
        what: "access-code pepper",
    },
    Provisioned {
        name: "data-seal",
        file: SEAL_FILE,
        what: "data-sealing key",
    },
    Provisioned {
        name: "deletion-ledger",
        file: LEDGER_KEY_FILE,
        what: "deletion-ledger key",
    },
    Provisioned {
        name: "ip-block-key",
        file: KEYRING_FILE,
        what: "IP sealing keys",
    },
    Provisioned {
        name: "key-encryption-keys",
        file: KEK_DIR,
        what: "key-encryption keys",
    },
];

/// Makes sure this node's key files are the database's, before anything
/// reads them. A missing file is created only while the database holds
/// nothing a key protects (a fresh installation); otherwise the start is
/// refused, since a new pepper would lock every code out and a new sealing
/// key would make sealed values unreadable. A file whose fingerprint
/// differs from the one stored at its first use is refused too. Fresh
/// files get their fingerprint stored; two nodes starting at once agree
/// because the key files are created atomically and the first stored
/// fingerprint wins.
pub async fn provision(
    store: &mestring_store::Store,
    data_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use mestring_store::installation;
    let mut stored = Vec::new();
    for key in &PROVISIONED {
        let name = key.name;
        stored.push(
            store
                .run(move |conn| installation::fingerprint(conn, name))
                .await?,
        );
    }
    let holds_data = store.run(installation::holds_data).await?;
    for (key, stored) in PROVISIONED.iter().zip(&stored) {
        let path = data_dir.join(key.file);
        let missing = match std::fs::read_dir(&path) {
            Ok(mut entries) => entries.next().is_none(),
            Err(_) => !path.exists(),
        };
        if missing && (holds_data || stored.is_some()) {
            anyhow::bail!(
                "the {} ({}) is missing, but this database already holds data it protects. \
                 Every node needs the same key files: copy them from a node that runs, or \
                 restore them from backup (docs/scaling.md). Refusing to create a new one.",
                key.what,
                path.display()
            );
        }
    }
    // Creates what is missing (only reached for a fresh installation).
    pepper(data_dir)?;
    seal_key(data_dir)?;
    ledger(data_dir)?;
    let ring = mestring_ipcrypt::SealingKeyRing::load_or_create(&data_dir.join(KEYRING_FILE))?;
    keks(data_dir, now)?;
    for key in &PROVISIONED {
        let fingerprint = match key.name {
            "ip-block-key" => {
                // The block hash of a fixed, unroutable address under the
                // ring's stable block key: identifies the key, hashes no
                // real address.
                ring.block_hash(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))[..32]
                    .to_owned()
            }
            // The KEKs rotate; `check_keks` checks them.
            "key-encryption-keys" => continue,
            _ => mestring_crypto::keyfile::read_secret(&data_dir.join(key.file))?
                .fingerprint(key.name),
        };
        let name = key.name;
        let mine = fingerprint.clone();
        let agreed = store
            .run(move |conn| mestring_store::installation::remember(conn, name, &mine, now))
            .await?;
        if agreed != fingerprint {
            anyhow::bail!(
                "the {} ({}) is not the one this database was set up with (its fingerprint \
                 differs). Every node needs the same key files: copy them from a node that \
                 runs (docs/scaling.md).",
                key.what,
                data_dir.join(key.file).display()
            );
        }
    }
    Ok(())
}

/// Refuses a key-encryption-key ring that cannot open the data keys the
/// database holds: for each KEK id in use, one wrapped key must open.
pub async fn check_keks(
    store: &mestring_store::Store,
    keks: &mestring_crypto::shred::SharedKekRing,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let samples = store.run(mestring_store::account_keys::one_per_kek).await?;
    let ring = keks.snapshot()?;
    for (kek, account, wrapped) in samples {
        if ring.unwrap_key(&account, &wrapped).is_none() {
            anyhow::bail!(
                "the key-encryption keys in {} cannot open the data keys this database holds \
                 (key {kek} is missing or different). Every node needs the same key files: \
                 copy them from a node that runs (docs/scaling.md).",
                data_dir.join(KEK_DIR).display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_stable_and_loose_permissions_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = pepper(dir.path()).expect("created");
        let b = pepper(dir.path()).expect("read back");
        let code = mestring_domain::access_code::AccessCode::generate();
        assert_eq!(a.hash(&code), b.hash(&code));
        seal_key(dir.path()).expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(PEPPER_FILE);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = pepper(dir.path()).expect_err("refused");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }
}
