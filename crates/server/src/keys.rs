//! Secret key files in the data directory (0600, created atomically on
//! first use; see `mestring_crypto::keyfile`).

use std::path::Path;

use mestring_crypto::keyfile::load_or_create_secret;
use mestring_domain::access_code::CodePepper;

/// File name of the access-code pepper.
pub const PEPPER_FILE: &str = "code-pepper.key";

/// File name of the key that seals TOTP secrets and pseudonyms.
pub const SEAL_FILE: &str = "data-seal.key";

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
