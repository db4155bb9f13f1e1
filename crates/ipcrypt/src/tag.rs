//! Keyed IP tags for rate limiting: HMAC-SHA256 of the address under a daily random key.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

use crate::client_ip::{ClientIp, normalise};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a tag can never equal a block hash or any other HMAC made with the
/// same key material by mistake.
const TAG_DOMAIN: &[u8] = b"mestring/ip-tag/v1\0";

/// The bytes of an address that are hashed: IPv4 as its 4 bytes; IPv6 as its /64 prefix,
/// because one subscriber usually holds a whole /64 and could otherwise step around a
/// rate limit or a block by changing the lower bits.
/// The leading family byte keeps the two encodings apart.
pub(crate) fn hashed_bytes(ip: IpAddr) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    match normalise(ip) {
        IpAddr::V4(v4) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&v4.octets());
            (out, 5)
        }
        IpAddr::V6(v6) => {
            out[0] = 6;
            out[1..9].copy_from_slice(&v6.octets()[..8]);
            (out, 9)
        }
    }
}

/// One daily tag key.
///
/// `id` is a label such as the UTC date (`"2026-11-25"`); `secret` is 32 random bytes.
/// The server stores these in the database so all instances agree on them; they must never
/// be logged, which is why `Debug` prints `[REDACTED]` for the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TagKey {
    /// Label of the key, e.g. the UTC date it became current.
    pub id: String,
    /// The HMAC key.
    pub secret: [u8; 32],
}

impl TagKey {
    /// A fresh key with 32 bytes from the operating system's CSPRNG.
    pub fn generate(id: impl Into<String>) -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Self {
            id: id.into(),
            secret,
        }
    }
}

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagKey")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The current tag key and, after a rotation, the previous one (kept so that a throttle
/// set just before midnight still holds just after; keys older than 48 h are deleted by
/// the server, as in Plausible's salts).
///
/// Invariant: the cached HMAC states always match the keys (fields are private and set
/// only in [`TagKeys::new`]).
#[derive(Clone)]
pub struct TagKeys {
    current: TagKey,
    previous: Option<TagKey>,
    // Pre-keyed HMAC states: cloning one skips the key schedule on every request.
    current_mac: HmacSha256,
    previous_mac: Option<HmacSha256>,
}

fn keyed(secret: &[u8; 32]) -> HmacSha256 {
    // A 32-byte key is valid for HMAC (any length is); the Err arm cannot happen, but
    // `new_from_slice` is the only constructor that takes a slice.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

impl TagKeys {
    /// Builds the set from the current key and the optional previous one.
    pub fn new(current: TagKey, previous: Option<TagKey>) -> Self {
        let current_mac = keyed(&current.secret);
        let previous_mac = previous.as_ref().map(|k| keyed(&k.secret));
        Self {
            current,
            previous,
            current_mac,
            previous_mac,
        }
    }

    /// A set with a single freshly generated key (first start, tests).
    pub fn generate(id: impl Into<String>) -> Self {
        Self::new(TagKey::generate(id), None)
    }

    /// The set after a daily rotation: `new_current` becomes current and today's current
    /// becomes previous; the old previous is dropped.
    pub fn rotated(&self, new_current: TagKey) -> Self {
        Self::new(new_current, Some(self.current.clone()))
    }

    /// The current key.
    pub fn current(&self) -> &TagKey {
        &self.current
    }

    /// The previous key, if any.
    pub fn previous(&self) -> Option<&TagKey> {
        self.previous.as_ref()
    }

    /// Tag of `ip` under the current key.
    pub(crate) fn tag(&self, ip: &ClientIp) -> IpTag {
        tag_with(&self.current_mac, ip.addr())
    }

    /// Tag of `ip` under the previous key, if there is one.
    pub(crate) fn previous_tag(&self, ip: &ClientIp) -> Option<IpTag> {
        self.previous_mac.as_ref().map(|m| tag_with(m, ip.addr()))
    }
}

impl fmt::Debug for TagKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagKeys")
            .field("current", &self.current)
            .field("previous", &self.previous)
            .finish()
    }
}

fn tag_with(mac: &HmacSha256, ip: IpAddr) -> IpTag {
    let (bytes, len) = hashed_bytes(ip);
    let mut mac = mac.clone();
    mac.update(TAG_DOMAIN);
    mac.update(&bytes[..len]);
    IpTag(mac.finalize().into_bytes().into())
}

/// An opaque pseudonym for a client address: HMAC-SHA256 under the day's [`TagKey`].
///
/// Invariants: it cannot be turned back into an address without the key (and the key is
/// deleted after 48 h); a tag under one day's key is unrelated to the tag of the same
/// address under another day's key. Two IPv6 addresses in the same /64 share a tag.
/// `Debug` shows only a short prefix; do not log tags at all in production code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpTag([u8; 32]);

impl IpTag {
    /// Lower-case hex of the 32 bytes (64 characters), for the security-log table.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for IpTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpTag({}…)", hex::encode(&self.0[..3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cip(s: &str) -> ClientIp {
        ClientIp::new(s.parse().expect("test ip"))
    }

    #[test]
    fn same_ip_different_keys_different_tags() {
        let a = TagKeys::generate("2026-11-24");
        let b = TagKeys::generate("2026-11-25");
        let ip = cip("198.51.100.7");
        assert_eq!(a.tag(&ip), a.tag(&ip), "deterministic under one key");
        assert_ne!(a.tag(&ip), b.tag(&ip));
        assert_ne!(a.tag(&ip), a.tag(&cip("198.51.100.8")));
    }

    #[test]
    fn rotation_keeps_previous() {
        let a = TagKeys::generate("d1");
        let ip = cip("192.0.2.1");
        let old = a.tag(&ip);
        let b = a.rotated(TagKey::generate("d2"));
        assert_eq!(b.previous().map(|k| k.id.as_str()), Some("d1"));
        assert_eq!(b.previous_tag(&ip), Some(old));
        assert_ne!(b.tag(&ip), old);
        assert_eq!(a.previous_tag(&ip), None);
    }

    #[test]
    fn ipv6_same_slash64_shares_tag_and_mapped_equals_v4() {
        let k = TagKeys::generate("d");
        assert_eq!(
            k.tag(&cip("2001:db8:1:2::1")),
            k.tag(&cip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            k.tag(&cip("2001:db8:1:2::1")),
            k.tag(&cip("2001:db8:1:3::1"))
        );
        assert_eq!(k.tag(&cip("::ffff:192.0.2.1")), k.tag(&cip("192.0.2.1")));
    }

    #[test]
    fn debug_is_redacted() {
        let k = TagKey {
            id: "2026-11-25".into(),
            secret: [0xab; 32],
        };
        let s = format!("{k:?}");
        assert!(s.contains("[REDACTED]"), "{s}");
        assert!(!s.to_lowercase().contains("abab"), "{s}");
        let ks = format!("{:?}", TagKeys::new(k, None));
        assert!(ks.contains("[REDACTED]") && !ks.contains("abab"), "{ks}");
        let t = TagKeys::generate("x").tag(&cip("192.0.2.1"));
        assert_eq!(t.to_hex().len(), 64);
        assert!(format!("{t:?}").len() < 20);
    }
}
