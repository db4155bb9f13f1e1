//! Secret key files in the data directory (0600, created atomically on
//! first use; see `mestring_crypto::keyfile`).

use std::path::Path;

use mestring_crypto::keyfile::load_or_create_secret;
use mestring_domain::access_code::CodePepper;

/// File name of the access-code pepper.
pub const PEPPER_FILE: &str = "code-pepper.key";

/// File name of the key that seals TOTP secrets and pseudonyms.
pub const SEAL_FILE: &str = "data-seal.key";

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
