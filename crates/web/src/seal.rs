//! Sealing small secrets at rest (TOTP secrets, issued codes kept as
//! pseudonyms) with XChaCha20-Poly1305 under a key file outside the
//! database.
//!
//! Layout: one version byte (the key/algorithm id, for crypto agility),
//! a random 192-bit nonce, then ciphertext and tag. The associated data
//! binds each value to its purpose and owner (e.g. the organisation), so a
//! sealed value copied to another row or purpose does not open.

use mestring_crypto::{Sealer, Secret};

/// The header of every sealed value: one byte, XChaCha20-Poly1305 under
/// key 1 (format: `mestring_crypto`).
const HEADER: [u8; 1] = [1];

/// The data-sealing key. `Debug` is redacted.
#[derive(Clone)]
pub struct SealKey {
    sealer: Sealer,
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
            sealer: Sealer::new(&Secret::from_bytes(bytes)),
        }
    }

    fn aad(purpose: &str, owner: &str) -> Vec<u8> {
        format!("mestring-seal-v1\0{purpose}\0{owner}").into_bytes()
    }

    /// Seals `plaintext` for `purpose` and `owner`.
    pub fn seal(&self, purpose: &str, owner: &str, plaintext: &[u8]) -> Vec<u8> {
        self.sealer
            .seal(&HEADER, &Self::aad(purpose, owner), plaintext)
    }

    /// Opens a value sealed for the same `purpose` and `owner`; `None`
    /// if it was sealed for something else, altered, or under another key.
    pub fn open(&self, purpose: &str, owner: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.sealer
            .open(&HEADER, &Self::aad(purpose, owner), sealed)
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

    #[test]
    fn opens_values_stored_in_the_original_format() {
        // Built byte by byte as the first version wrote them: version 1,
        // the nonce, then XChaCha20-Poly1305 over "mestring-seal-v1\0
        // {purpose}\0{owner}". Stored TOTP secrets and pseudonyms must keep
        // opening.
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let key = [9u8; 32];
        let nonce = [3u8; 24];
        let ct = XChaCha20Poly1305::new(&key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: b"JBSWY3DPEHPK3PXP",
                    aad: b"mestring-seal-v1\0totp\0staff-1",
                },
            )
            .expect("encrypts");
        let mut stored = vec![1u8];
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&ct);
        assert_eq!(
            SealKey::from_bytes(key)
                .open("totp", "staff-1", &stored)
                .as_deref(),
            Some(&b"JBSWY3DPEHPK3PXP"[..])
        );
    }
}
