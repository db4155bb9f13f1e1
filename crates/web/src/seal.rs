//! Sealing small secrets at rest (TOTP secrets, issued codes kept as
//! pseudonyms) with XChaCha20-Poly1305 under a key file outside the
//! database.
//!
//! Layout: one version byte (the key/algorithm id, for crypto agility),
//! a random 192-bit nonce, then ciphertext and tag. The associated data
//! binds each value to its purpose and owner (e.g. the organisation), so a
//! sealed value copied to another row or purpose does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The first byte of every sealed value: XChaCha20-Poly1305, key 1.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The data-sealing key. `Debug` is redacted.
#[derive(Clone)]
pub struct SealKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([REDACTED])")
    }
}

impl SealKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&bytes.into()),
        }
    }

    fn aad(purpose: &str, owner: &str) -> Vec<u8> {
        format!("mestring-seal-v1\0{purpose}\0{owner}").into_bytes()
    }

    /// Seals `plaintext` for `purpose` and `owner`.
    pub fn seal(&self, purpose: &str, owner: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(purpose, owner);
        // Encryption fails only for inputs of gigabytes; these are bytes.
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed for the same `purpose` and `owner`; `None`
    /// if it was sealed for something else, altered, or under another key.
    pub fn open(&self, purpose: &str, owner: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return None;
        }
        let aad = Self::aad(purpose, owner);
        self.cipher
            .decrypt(
                XNonce::from_slice(&sealed[1..1 + NONCE_LEN]),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_the_same_purpose_and_owner() {
        let k = SealKey::from_bytes([7; 32]);
        let s = k.seal("pseudonym", "org-a", b"ABCD-EFGH");
        assert_eq!(
            k.open("pseudonym", "org-a", &s).as_deref(),
            Some(&b"ABCD-EFGH"[..])
        );
        assert_eq!(k.open("pseudonym", "org-b", &s), None);
        assert_eq!(k.open("totp", "org-a", &s), None);
        assert_ne!(
            s,
            k.seal("pseudonym", "org-a", b"ABCD-EFGH"),
            "random nonce"
        );
        assert_eq!(
            SealKey::from_bytes([8; 32]).open("pseudonym", "org-a", &s),
            None
        );
        assert_eq!(format!("{k:?}"), "SealKey([REDACTED])");
    }
}
