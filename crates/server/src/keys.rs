//! Secret key files in the data directory, created 0600 on first start.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mestring_domain::access_code::CodePepper;
use rand::RngCore;

/// File name of the access-code pepper.
pub const PEPPER_FILE: &str = "code-pepper.key";

/// Reads the 32-byte secret in `path` (hex), creating it if missing.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).context("failed to create the data directory")?;
    }
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        write_private(path, hex::encode(bytes).as_bytes())?;
    }
    let text = fs::read_to_string(path)
        .with_context(|| format!("failed to read key file {}", path.display()))?;
    let raw = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| format!("key file {} is not 64 hex digits", path.display()))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&raw);
    Ok(out)
}

/// Writes `data` to `path` with mode 0600, atomically (temp file + rename).
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("failed to create {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// The access-code pepper of this installation.
pub fn pepper(data_dir: &Path) -> anyhow::Result<CodePepper> {
    let path = data_dir.join(PEPPER_FILE);
    check_permissions(&path)?;
    Ok(CodePepper::from_bytes(load_or_create_secret(&path)?))
}

/// File name of the key that seals TOTP secrets and pseudonyms.
pub const SEAL_FILE: &str = "data-seal.key";

/// The data-sealing key of this installation.
pub fn seal_key(data_dir: &Path) -> anyhow::Result<mestring_web::seal::SealKey> {
    let path = data_dir.join(SEAL_FILE);
    check_permissions(&path)?;
    Ok(mestring_web::seal::SealKey::from_bytes(
        load_or_create_secret(&path)?,
    ))
}

/// Refuses a key file that others can read.
fn check_permissions(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Ok(meta) = fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "key file {} is readable by others; run: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("k.key");
        let a = load_or_create_secret(&path).expect("created");
        let b = load_or_create_secret(&path).expect("read back");
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        pepper(dir.path()).expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(PEPPER_FILE);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(pepper(dir.path()).is_err());
        }
    }
}
