//! The one room for cryptography at rest: sealing values with
//! XChaCha20-Poly1305 ([`Sealer`]) and the key files that hold the secrets
//! ([`keyfile`]). The IP layer's key ring and the data-sealing key are built
//! on these two; new sealed data or keys should be too.
//!
//! # Sealed format
//!
//! ```text
//! header (chosen by the caller, at least 1 byte: a version, optionally a key id)
//! || nonce   24 bytes, random from the OS CSPRNG (XChaCha20's 192-bit nonce)
//! || ciphertext (as long as the plaintext) || Poly1305 tag (16 bytes)
//! ```
//!
//! The caller's associated data is authenticated: it binds a value to its
//! purpose and owner (so a sealed value copied to another row or purpose
//! does not open), and callers whose header carries more than a version
//! (a key id) include those fields in it. Opening also requires the exact
//! header. The random 192-bit nonce makes a
//! repeated nonce negligible for any number of seals under one key.
//!
//! Users: `mestring_web::seal::SealKey` (header: version 1; TOTP secrets
//! and pseudonyms) and `mestring_ipcrypt::SealingKeyRing` (header: version
//! 1 and a 4-byte key id; client addresses in the security log).

pub mod keyfile;
pub mod ledger;
pub mod shred;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Bytes of the random nonce after the header.
pub const NONCE_LEN: usize = 24;
/// Bytes of the authentication tag at the end.
pub const TAG_LEN: usize = 16;

/// A 256-bit secret. `Debug` prints `[REDACTED]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl Secret {
    /// Wraps 32 secret bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// 32 fresh bytes from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret bytes (to derive keys from or write to a key file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A public fingerprint of this secret for the key named `name`:
    /// HMAC-SHA256 under the secret of a fixed label and the name, first
    /// 16 bytes in hex. Equal secrets give equal fingerprints; the
    /// fingerprint reveals nothing about the secret (the database stores it
    /// to tell whether a node holds the same key file as the others).
    pub fn fingerprint(&self, name: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts a key of any length");
        mac.update(b"mestring key fingerprint v1\0");
        mac.update(name.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Seals and opens values under one key (format in the crate docs).
/// `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &Secret) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.expose().into()),
        }
    }

    /// `header || nonce || ciphertext || tag`, with `aad` authenticated.
    /// Each call uses a fresh random nonce.
    pub fn seal(&self, header: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption fails only for plaintexts beyond the cipher's limit
        // (about 256 GiB); everything sealed here is a few bytes.
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(header.len() + NONCE_LEN + ct.len());
        out.extend_from_slice(header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed with the same `header` and `aad`; `None` if it
    /// is too short, carries another header, was altered, was sealed for
    /// other associated data, or under another key.
    pub fn open(&self, header: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < header.len() + NONCE_LEN + TAG_LEN || !sealed.starts_with(header) {
            return None;
        }
        let (nonce, ct) = sealed[header.len()..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_tells_keys_apart_and_reveals_nothing() {
        let a = Secret::from_bytes([7; 32]);
        let same = Secret::from_bytes([7; 32]);
        let other = Secret::from_bytes([8; 32]);
        assert_eq!(a.fingerprint("pepper"), same.fingerprint("pepper"));
        assert_ne!(a.fingerprint("pepper"), other.fingerprint("pepper"));
        assert_ne!(a.fingerprint("pepper"), a.fingerprint("seal"));
        assert_eq!(a.fingerprint("pepper").len(), 32);
        assert!(!a.fingerprint("pepper").contains(&hex::encode([7u8; 4])));
    }

    #[test]
    fn round_trip_and_every_binding() {
        let key = Secret::from_bytes([7; 32]);
        let s = Sealer::new(&key);
        let sealed = s.seal(&[1], b"purpose\0owner", b"secret text");
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 11 + TAG_LEN);
        assert_eq!(sealed[0], 1);
        assert_eq!(
            s.open(&[1], b"purpose\0owner", &sealed).as_deref(),
            Some(&b"secret text"[..])
        );
        assert_eq!(
            s.open(&[1], b"purpose\0other", &sealed),
            None,
            "other owner"
        );
        assert_eq!(
            s.open(&[2], b"purpose\0owner", &sealed),
            None,
            "other header"
        );
        let other = Sealer::new(&Secret::from_bytes([8; 32]));
        assert_eq!(
            other.open(&[1], b"purpose\0owner", &sealed),
            None,
            "other key"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(s.open(&[1], b"purpose\0owner", &tampered), None, "tampered");
        assert_eq!(
            s.open(&[1], b"purpose\0owner", &sealed[..20]),
            None,
            "short"
        );
        assert_ne!(
            sealed,
            s.seal(&[1], b"purpose\0owner", b"secret text"),
            "fresh nonce"
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = Secret::from_bytes([0xAB; 32]);
        assert_eq!(format!("{key:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{:?}", Sealer::new(&key)), "Sealer([REDACTED])");
    }
}
