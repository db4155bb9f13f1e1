//! Staff passwords: length rules, a common-password list, Argon2id.
//!
//! ASVS 4.0.3 2.1.1/2.1.2/2.1.7/2.1.9: at least 12 characters, up to 128
//! allowed, checked against common passwords, no composition rules.
//! ASVS 5.0 Appendix C: Argon2id with m=19456 KiB, t=2, p=1. Each hash
//! takes ~19 MiB, so a semaphore caps concurrent hashing and the work runs
//! on the blocking pool.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

pub use mestring_domain::policy::password::{
    ARGON2_M_KIB, ARGON2_P, ARGON2_T, MAX_CHARS, MAX_CONCURRENT_HASHES, MIN_CHARS,
};

static HASHING: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Why a chosen password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_CHARS`].
    TooShort,
    /// More than [`MAX_CHARS`].
    TooLong,
    /// On the common-password list (or the e-mail address itself).
    Common,
    /// The two fields differ.
    Mismatch,
}

impl PasswordProblem {
    /// The message key for the form.
    pub fn message_key(self) -> &'static str {
        match self {
            Self::TooShort => "dashboard.password_too_short",
            Self::TooLong => "dashboard.password_too_long",
            Self::Common => "dashboard.password_common",
            Self::Mismatch => "dashboard.password_mismatch",
        }
    }
}

/// Checks a new password (no composition rules, by design).
pub fn check_new(password: &str, repeat: &str, email: &str) -> Result<(), PasswordProblem> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if n > MAX_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower) || lower == email.trim().to_lowercase() {
        return Err(PasswordProblem::Common);
    }
    if password != repeat {
        return Err(PasswordProblem::Mismatch);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // The constants are valid Argon2 parameters; a test constructs them.
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .unwrap_or_else(|_| unreachable!("constant Argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing failed (only on a bug or a cancelled task).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Hashes a password with a random 128-bit salt; returns a PHC string.
pub async fn hash(password: String) -> Result<String, HashError> {
    let _permit = HASHING.acquire().await.map_err(|_| HashError)?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| HashError)?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| HashError)
    })
    .await
    .map_err(|_| HashError)?
}

/// A hash of nothing in particular, verified against when the account does
/// not exist so that unknown and known e-mails take the same time.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(b"mestring-dummy-s")
        .unwrap_or_else(|_| unreachable!("16 bytes encode"));
    argon2()
        .hash_password(b"not a password anyone has", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Whether `password` matches `stored`; with `None` a dummy hash is
/// checked anyway (same cost) and the answer is false.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_length_and_the_list_only() {
        assert_eq!(
            check_new("short", "short", "a@b.no"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new("password1234", "password1234", "a@b.no"),
            Err(PasswordProblem::Common)
        );
        assert_eq!(
            check_new("PASSWORD1234", "PASSWORD1234", "a@b.no"),
            Err(PasswordProblem::Common)
        );
        let long = "x".repeat(129);
        assert_eq!(
            check_new(&long, &long, "a@b.no"),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(
            check_new("all lower case words", "all lower case word", "a@b.no"),
            Err(PasswordProblem::Mismatch)
        );
        assert_eq!(
            check_new("all lower case words", "all lower case words", "a@b.no"),
            Ok(())
        );
        assert!(COMMON.len() >= 300, "list has {}", COMMON.len());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_required_cost_and_verify() {
        let h = hash("correct horse battery".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(h.clone())).await);
        assert!(!verify("correct horse battery".into(), None).await);
        assert_ne!(h, hash("correct horse battery".into()).await.expect("hash"));
    }
}
