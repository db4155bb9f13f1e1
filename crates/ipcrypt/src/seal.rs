//! Sealing IP addresses for the security log, the key ring in the key file, and block
//! hashes.
//!
//! # Sealed format (version 1)
//!
//! ```text
//! offset  len  field
//! 0       1    version = 0x01
//! 1       4    key id, big-endian u32 (the sealing key in the key ring)
//! 5       24   nonce, random from the OS CSPRNG (XChaCha20's 192-bit nonce)
//! 29      32   XChaCha20-Poly1305 ciphertext (16 bytes) + Poly1305 tag (16 bytes)
//! ```
//!
//! Total: always [`SEALED_LEN`] = 61 bytes. The plaintext is always the 16-byte IPv6 form of
//! the address (IPv4 as `::ffff:a.b.c.d`), so the length does not reveal the family; on
//! opening, IPv4-mapped addresses are returned as IPv4.
//!
//! Associated data (authenticated, not stored):
//!
//! ```text
//! "mestring/ip-seal\0" || version (1 byte) || key id (4 bytes BE)
//!   || len(kind) (2 bytes BE) || kind (UTF-8) || at as unix microseconds (8 bytes BE, i64)
//! ```
//!
//! Binding the row's `kind` and timestamp means a sealed value cannot be moved to another
//! row (or have its time or kind edited) without opening failing. The store must therefore
//! round-trip `at` with at least microsecond precision; digits below a microsecond are
//! ignored. A random 192-bit nonce makes nonce reuse negligible for any number of seals
//! under one key. The layout is `mestring_crypto`'s sealed format with a 5-byte header.
//!
//! # Key file
//!
//! JSON in the data directory, mode 0600, created and replaced atomically through
//! `mestring_crypto::keyfile`:
//!
//! ```json
//! { "format": 1, "current": 2, "next_id": 3,
//!   "block_key": "<64 hex>",
//!   "keys": [ { "id": 1, "created": "2026-11-25T10:00:00Z", "secret": "<64 hex>" }, … ] }
//! ```
//!
//! Destroying a key (removing it from this file) makes every value sealed under it
//! unreadable for good: crypto-shredding.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use mestring_crypto::keyfile::{self, KeyFileError};
use mestring_crypto::{NONCE_LEN, Sealer, Secret, TAG_LEN};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::client_ip::{ClientIp, normalise};
use crate::tag::hashed_bytes;

/// Version byte of the sealed format.
pub const SEAL_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const PLAINTEXT_LEN: usize = 16;
/// Length in bytes of every version-1 sealed value.
pub const SEALED_LEN: usize = HEADER_LEN + PLAINTEXT_LEN + TAG_LEN;
const AAD_DOMAIN: &[u8] = b"mestring/ip-seal\0";
const BLOCK_DOMAIN: &[u8] = b"mestring/ip-block/v1\0";
const KEY_FILE_FORMAT: u32 = 1;

/// Identifies a sealing key in the key ring; stored beside each sealed value (the store's
/// `key_id` column) so unused keys can be found and destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(u32);

impl KeyId {
    /// Wraps a raw id (e.g. read back from the database).
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// The raw id.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for KeyId {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

/// An IP address sealed with XChaCha20-Poly1305 (format in the module docs).
///
/// Invariant: always a well-formed version-1 value of [`SEALED_LEN`] bytes, produced by
/// [`SealingKeyRing::seal`]. `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedIp(Vec<u8>);

impl SealedIp {
    /// The bytes to store (BLOB / bytea).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes to store, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The sealing key this value needs; store it in the row's `key_id` column.
    pub fn key_id(&self) -> KeyId {
        // The invariant guarantees the header is present.
        Self::key_id_of(&self.0).unwrap_or(KeyId(0))
    }

    /// Reads the key id from stored bytes without opening them; `None` if the bytes are
    /// not a version-1 sealed value.
    pub fn key_id_of(bytes: &[u8]) -> Option<KeyId> {
        if bytes.len() != SEALED_LEN || bytes[0] != SEAL_VERSION {
            return None;
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&bytes[1..5]);
        Some(KeyId(u32::from_be_bytes(id)))
    }
}

impl fmt::Debug for SealedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedIp")
            .field("key_id", &self.key_id())
            .field("len", &self.0.len())
            .finish()
    }
}

/// Why a sealed value could not be opened. Deliberately coarse: no detail about the
/// plaintext or key ever leaves this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Wrong length.
    #[error("sealed IP is malformed (wrong length)")]
    Malformed,
    /// A version byte this build does not know.
    #[error("sealed IP has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The key is not (or no longer) in the key ring: it was destroyed, or this is another
    /// installation's key file.
    #[error("sealing key {0} is not in the key ring (destroyed or foreign)")]
    UnknownKey(KeyId),
    /// Authentication failed: tampered bytes, wrong key, or wrong kind/time.
    #[error("sealed IP failed authentication (tampered, wrong key, or wrong kind/time)")]
    Decrypt,
}

/// Errors reading or writing the key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// File-system error.
    #[error("key file {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Not valid key-file JSON, or inconsistent contents. The file is never overwritten in
    /// that case: replacing it would destroy every sealed value.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong (never contains key material).
        reason: String,
    },
    /// Group or others may access the file.
    #[error("key file {path} has mode {mode:o}; it must be 0600 (run: chmod 600 {path})")]
    InsecurePermissions {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Every key id has been used.
    #[error("key ids exhausted")]
    IdsExhausted,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> KeyRingError {
    KeyRingError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The stable key for block hashes (kept in the key file, never rotated, so a block set
/// with `mestring ip block` keeps matching).
///
/// Invariant: the cached HMAC state matches the secret. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct BlockKey {
    secret: [u8; 32],
    mac: HmacSha256,
}

impl BlockKey {
    fn new(secret: [u8; 32]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac =
            <HmacSha256 as Mac>::new_from_slice(&secret).expect("HMAC accepts keys of any length");
        Self { secret, mac }
    }

    pub(crate) fn hash_bytes(&self, ip: IpAddr) -> [u8; 32] {
        let (bytes, len) = hashed_bytes(ip);
        let mut mac = self.mac.clone();
        mac.update(BLOCK_DOMAIN);
        mac.update(&bytes[..len]);
        mac.finalize().into_bytes().into()
    }

    /// The block hash of an address, as 64 lower-case hex characters: what the store keeps
    /// for `mestring ip block IP` instead of the address. IPv4-mapped addresses are
    /// normalised to IPv4, and an IPv6 address stands for its whole /64 (same rule as
    /// [`crate::IpTag`]).
    pub fn block_hash(&self, ip: IpAddr) -> String {
        hex::encode(self.hash_bytes(normalise(ip)))
    }
}

impl fmt::Debug for BlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockKey([REDACTED])")
    }
}

#[derive(Clone)]
struct SealingKey {
    secret: [u8; 32],
    created: DateTime<Utc>,
}

/// The sealing keys (one current, older ones kept while rows need them) and the block key.
///
/// Invariants: `current` is always present in `keys` and `current_secret` is its secret;
/// `next_id` is greater than every id ever used, so an id is never reused after a key is
/// destroyed. `Debug` prints `[REDACTED]` for all key material.
#[derive(Clone)]
pub struct SealingKeyRing {
    keys: BTreeMap<KeyId, SealingKey>,
    current: KeyId,
    // Copy of the current key's secret, so sealing needs no lookup that could fail.
    current_secret: [u8; 32],
    next_id: u32,
    block_key: BlockKey,
}

impl fmt::Debug for SealingKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("secrets", &"[REDACTED]")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    current: u32,
    next_id: u32,
    block_key: String,
    keys: Vec<KeyFileEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyFileEntry {
    id: u32,
    created: DateTime<Utc>,
    secret: String,
}

fn random_secret() -> [u8; 32] {
    *Secret::generate().expose()
}

fn parse_secret(path: &Path, what: &str, hex_str: &str) -> Result<[u8; 32], KeyRingError> {
    let bytes = hex::decode(hex_str).map_err(|_| corrupt(path, format!("{what} is not hex")))?;
    bytes
        .try_into()
        .map_err(|_| corrupt(path, format!("{what} is not 32 bytes")))
}

fn aad(key_id: KeyId, kind: &str, at: DateTime<Utc>) -> Vec<u8> {
    let kind = kind.as_bytes();
    // Kinds are short identifiers; truncating the length prefix could only matter past
    // 64 KiB, where it would still be unambiguous because the kind bytes follow in full.
    let kind_len = u16::try_from(kind.len()).unwrap_or(u16::MAX);
    let mut v = Vec::with_capacity(AAD_DOMAIN.len() + 1 + 4 + 2 + kind.len() + 8);
    v.extend_from_slice(AAD_DOMAIN);
    v.push(SEAL_VERSION);
    v.extend_from_slice(&key_id.0.to_be_bytes());
    v.extend_from_slice(&kind_len.to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(&at.timestamp_micros().to_be_bytes());
    v
}

/// Version byte and key id: the header `mestring_crypto` writes first.
fn header(key_id: KeyId) -> [u8; 5] {
    let id = key_id.0.to_be_bytes();
    [SEAL_VERSION, id[0], id[1], id[2], id[3]]
}

fn plaintext(ip: IpAddr) -> [u8; PLAINTEXT_LEN] {
    match normalise(ip) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl SealingKeyRing {
    /// A new ring in memory: one fresh sealing key (id 1) and a fresh block key.
    pub fn generate() -> Self {
        Self::generate_at(Utc::now())
    }

    fn generate_at(now: DateTime<Utc>) -> Self {
        let secret = random_secret();
        let mut keys = BTreeMap::new();
        keys.insert(
            KeyId(1),
            SealingKey {
                secret,
                created: now,
            },
        );
        Self {
            keys,
            current: KeyId(1),
            current_secret: secret,
            next_id: 2,
            block_key: BlockKey::new(random_secret()),
        }
    }

    /// Loads the key file, or creates it (mode 0600) with a fresh ring if it does not
    /// exist. Creation is atomic and never replaces an existing file, even if two
    /// processes start at once (the loser loads the winner's file).
    ///
    /// Errors on a corrupt file or one that group/others can access; it never overwrites
    /// such a file, because that would destroy every sealed value.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyRingError> {
        match Self::load(path) {
            Err(KeyRingError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let ring = Self::generate();
        if keyfile::create_new(path, &ring.to_json(path)?)? {
            Ok(ring)
        } else {
            // Another process created it first: use theirs.
            Self::load(path)
        }
    }

    /// Loads an existing key file.
    pub fn load(path: &Path) -> Result<Self, KeyRingError> {
        let file = keyfile::open_private(path)?;
        let kf: KeyFile = serde_json::from_reader(io::BufReader::new(file))
            .map_err(|e| corrupt(path, format!("not valid key-file JSON ({e})")))?;
        if kf.format != KEY_FILE_FORMAT {
            return Err(corrupt(path, format!("unknown format {}", kf.format)));
        }
        let mut keys = BTreeMap::new();
        for e in &kf.keys {
            let secret = parse_secret(path, &format!("key {}", e.id), &e.secret)?;
            if e.id >= kf.next_id {
                return Err(corrupt(path, format!("key id {} >= next_id", e.id)));
            }
            let prev = keys.insert(
                KeyId(e.id),
                SealingKey {
                    secret,
                    created: e.created,
                },
            );
            if prev.is_some() {
                return Err(corrupt(path, format!("duplicate key id {}", e.id)));
            }
        }
        let current = KeyId(kf.current);
        let Some(current_secret) = keys.get(&current).map(|k| k.secret) else {
            return Err(corrupt(path, "current key is missing"));
        };
        let block_key = BlockKey::new(parse_secret(path, "block_key", &kf.block_key)?);
        Ok(Self {
            keys,
            current,
            current_secret,
            next_id: kf.next_id,
            block_key,
        })
    }

    /// Adds a fresh sealing key and makes it current; returns its id. Older keys stay so
    /// existing rows still open.
    ///
    /// Re-reads the file first so changes made by another process since `self` was loaded
    /// are not lost, then replaces it atomically and updates `self`. A running server
    /// keeps sealing under its in-memory current key until it reloads the file.
    pub fn rotate(&mut self, path: &Path) -> Result<KeyId, KeyRingError> {
        let mut ring = Self::load(path)?;
        let id = KeyId(ring.next_id);
        ring.next_id = ring
            .next_id
            .checked_add(1)
            .ok_or(KeyRingError::IdsExhausted)?;
        let secret = random_secret();
        ring.keys.insert(
            id,
            SealingKey {
                secret,
                created: Utc::now(),
            },
        );
        ring.current = id;
        ring.current_secret = secret;
        ring.save(path)?;
        *self = ring;
        Ok(id)
    }

    /// Destroys every sealing key that is not current and not in `ids_in_use` (the key ids
    /// still referenced by rows), which makes anything sealed under them unreadable for
    /// good (crypto-shredding). Returns the destroyed ids.
    ///
    /// Re-reads the file first, then replaces it atomically and updates `self`. The
    /// caller must make sure that no running process still seals under a non-current key
    /// (servers reload the key file before the daily purge), or those new rows become
    /// unreadable.
    pub fn destroy_unused(
        &mut self,
        path: &Path,
        ids_in_use: &HashSet<KeyId>,
    ) -> Result<Vec<KeyId>, KeyRingError> {
        let mut ring = Self::load(path)?;
        let current = ring.current;
        let doomed: Vec<KeyId> = ring
            .keys
            .keys()
            .copied()
            .filter(|id| *id != current && !ids_in_use.contains(id))
            .collect();
        if !doomed.is_empty() {
            for id in &doomed {
                ring.keys.remove(id);
            }
            ring.save(path)?;
        }
        *self = ring;
        Ok(doomed)
    }

    /// The current key's id: new seals use it.
    pub fn current_key_id(&self) -> KeyId {
        self.current
    }

    /// Ids of all keys in the ring, oldest first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.keys().copied().collect()
    }

    /// The stable block-hash key.
    pub fn block_key(&self) -> &BlockKey {
        &self.block_key
    }

    /// Shorthand for `self.block_key().block_hash(ip)`.
    pub fn block_hash(&self, ip: IpAddr) -> String {
        self.block_key.block_hash(ip)
    }

    /// Seals `ip` for a row of `kind` at time `at` under the current key (format in the
    /// module docs). Each call uses a fresh random nonce.
    pub fn seal(&self, ip: &ClientIp, kind: &str, at: DateTime<Utc>) -> SealedIp {
        self.seal_addr(ip.addr(), kind, at)
    }

    pub(crate) fn seal_addr(&self, ip: IpAddr, kind: &str, at: DateTime<Utc>) -> SealedIp {
        let key_id = self.current;
        let sealer = Sealer::new(&Secret::from_bytes(self.current_secret));
        SealedIp(sealer.seal(&header(key_id), &aad(key_id, kind, at), &plaintext(ip)))
    }

    /// Opens a sealed value stored for a row of `kind` at `at`. Returns the raw address:
    /// only for the audited break-glass CLI (`mestring ip reveal`), never for request
    /// handling.
    pub fn open(&self, sealed: &[u8], kind: &str, at: DateTime<Utc>) -> Result<IpAddr, OpenError> {
        if sealed.is_empty() {
            return Err(OpenError::Malformed);
        }
        if sealed[0] != SEAL_VERSION {
            return Err(OpenError::UnsupportedVersion(sealed[0]));
        }
        let key_id = SealedIp::key_id_of(sealed).ok_or(OpenError::Malformed)?;
        let key = self
            .keys
            .get(&key_id)
            .ok_or(OpenError::UnknownKey(key_id))?;
        let pt = Sealer::new(&Secret::from_bytes(key.secret))
            .open(&header(key_id), &aad(key_id, kind, at), sealed)
            .ok_or(OpenError::Decrypt)?;
        let octets: [u8; 16] = pt.try_into().map_err(|_| OpenError::Decrypt)?;
        Ok(normalise(IpAddr::V6(Ipv6Addr::from(octets))))
    }

    fn to_file(&self) -> KeyFile {
        KeyFile {
            format: KEY_FILE_FORMAT,
            current: self.current.0,
            next_id: self.next_id,
            block_key: hex::encode(self.block_key.secret),
            keys: self
                .keys
                .iter()
                .map(|(id, k)| KeyFileEntry {
                    id: id.0,
                    created: k.created,
                    secret: hex::encode(k.secret),
                })
                .collect(),
        }
    }

    /// The key file's bytes.
    fn to_json(&self, path: &Path) -> Result<Vec<u8>, KeyRingError> {
        serde_json::to_vec_pretty(&self.to_file())
            .map_err(|e| corrupt(path, format!("cannot serialise ({e})")))
    }

    /// Atomically replaces the key file with this ring.
    fn save(&self, path: &Path) -> Result<(), KeyRingError> {
        Ok(keyfile::replace(path, &self.to_json(path)?)?)
    }
}

impl From<KeyFileError> for KeyRingError {
    fn from(e: KeyFileError) -> Self {
        match e {
            KeyFileError::Io { path, source } => Self::Io { path, source },
            KeyFileError::InsecurePermissions { path, mode } => {
                Self::InsecurePermissions { path, mode }
            }
            KeyFileError::Corrupt { path, reason } => Self::Corrupt { path, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::fs;

    fn cip(s: &str) -> ClientIp {
        ClientIp::new(s.parse().expect("test ip"))
    }
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .expect("valid")
            + chrono::Duration::microseconds(123_456)
    }

    #[test]
    fn round_trip_v4_and_v6() {
        let ring = SealingKeyRing::generate();
        for s in ["198.51.100.7", "2001:db8::42", "::ffff:192.0.2.9"] {
            let ip = cip(s);
            let sealed = ring.seal(&ip, "failed_login", t0());
            assert_eq!(sealed.as_bytes().len(), SEALED_LEN);
            assert_eq!(sealed.as_bytes()[0], SEAL_VERSION);
            assert_eq!(sealed.key_id(), ring.current_key_id());
            let opened = ring.open(sealed.as_bytes(), "failed_login", t0());
            assert_eq!(opened, Ok(ip.addr()), "{s}");
        }
        assert_eq!(
            ring.open(
                ring.seal(&cip("::ffff:192.0.2.9"), "k", t0()).as_bytes(),
                "k",
                t0()
            ),
            Ok("192.0.2.9".parse().expect("ip"))
        );
    }

    #[test]
    fn nonce_differs_per_seal() {
        let ring = SealingKeyRing::generate();
        let ip = cip("198.51.100.7");
        let a = ring.seal(&ip, "blocked", t0());
        let b = ring.seal(&ip, "blocked", t0());
        assert_ne!(a.as_bytes()[5..HEADER_LEN], b.as_bytes()[5..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn tampering_any_byte_fails() {
        let ring = SealingKeyRing::generate();
        let sealed = ring
            .seal(&cip("198.51.100.7"), "blocked", t0())
            .into_bytes();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(ring.open(&bad, "blocked", t0()).is_err(), "byte {i}");
        }
        assert_eq!(
            ring.open(&sealed[..SEALED_LEN - 1], "blocked", t0()),
            Err(OpenError::Malformed)
        );
        assert_eq!(ring.open(&[], "blocked", t0()), Err(OpenError::Malformed));
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(
            ring.open(&longer, "blocked", t0()),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn wrong_key_fails() {
        let a = SealingKeyRing::generate();
        let b = SealingKeyRing::generate(); // also has key id 1
        let sealed = a.seal(&cip("198.51.100.7"), "blocked", t0());
        assert_eq!(
            b.open(sealed.as_bytes(), "blocked", t0()),
            Err(OpenError::Decrypt)
        );
    }

    #[test]
    fn wrong_kind_or_time_fails() {
        let ring = SealingKeyRing::generate();
        let sealed = ring.seal(&cip("198.51.100.7"), "failed_login", t0());
        assert_eq!(
            ring.open(sealed.as_bytes(), "blocked", t0()),
            Err(OpenError::Decrypt)
        );
        assert_eq!(
            ring.open(
                sealed.as_bytes(),
                "failed_login",
                t0() + chrono::Duration::microseconds(1)
            ),
            Err(OpenError::Decrypt)
        );
        // Sub-microsecond digits are not bound (databases keep microseconds).
        assert!(
            ring.open(
                sealed.as_bytes(),
                "failed_login",
                t0() + chrono::Duration::nanoseconds(500)
            )
            .is_ok()
        );
    }

    #[test]
    fn key_file_created_0600_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("ip-keys.json");
        let ring = SealingKeyRing::load_or_create(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let sealed = ring.seal(&cip("198.51.100.7"), "blocked", t0());
        let again = SealingKeyRing::load_or_create(&path).expect("load");
        assert_eq!(again.current_key_id(), ring.current_key_id());
        assert!(again.open(sealed.as_bytes(), "blocked", t0()).is_ok());
        let ip: IpAddr = "203.0.113.5".parse().expect("ip");
        assert_eq!(again.block_hash(ip), ring.block_hash(ip));
        // No temp files left behind.
        let entries: Vec<_> = fs::read_dir(path.parent().expect("parent"))
            .expect("read_dir")
            .collect();
        assert_eq!(entries.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn insecure_or_corrupt_file_is_refused_not_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ip-keys.json");
        SealingKeyRing::load_or_create(&path).expect("create");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            SealingKeyRing::load_or_create(&path),
            Err(KeyRingError::InsecurePermissions { mode: 0o644, .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&path, b"{ not json").expect("write");
        let err = SealingKeyRing::load_or_create(&path).expect_err("corrupt");
        assert!(matches!(err, KeyRingError::Corrupt { .. }));
        assert_eq!(fs::read(&path).expect("read"), b"{ not json");
    }

    #[test]
    fn rotate_keeps_old_rows_and_uses_new_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ip-keys.json");
        let mut ring = SealingKeyRing::load_or_create(&path).expect("create");
        let old_id = ring.current_key_id();
        let old = ring.seal(&cip("198.51.100.7"), "blocked", t0());
        let new_id = ring.rotate(&path).expect("rotate");
        assert_ne!(new_id, old_id);
        assert_eq!(ring.current_key_id(), new_id);
        let new = ring.seal(&cip("198.51.100.8"), "blocked", t0());
        assert_eq!(new.key_id(), new_id);
        assert_eq!(old.key_id(), old_id);
        // Both open, in this ring and in a fresh load of the file.
        let reloaded = SealingKeyRing::load(&path).expect("load");
        for r in [&ring, &reloaded] {
            assert!(r.open(old.as_bytes(), "blocked", t0()).is_ok());
            assert!(r.open(new.as_bytes(), "blocked", t0()).is_ok());
        }
        assert_eq!(reloaded.current_key_id(), new_id);
        assert_eq!(reloaded.key_ids(), vec![old_id, new_id]);
    }

    #[test]
    fn destroy_unused_shreds_only_unused_non_current() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ip-keys.json");
        let mut ring = SealingKeyRing::load_or_create(&path).expect("create");
        let k1 = ring.current_key_id();
        let row1 = ring.seal(&cip("198.51.100.7"), "blocked", t0());
        let k2 = ring.rotate(&path).expect("rotate");
        let row2 = ring.seal(&cip("198.51.100.8"), "blocked", t0());
        let k3 = ring.rotate(&path).expect("rotate");

        // k1 still in use: nothing but k2 (unused, not current) goes.
        let in_use: HashSet<KeyId> = [k1].into_iter().collect();
        assert_eq!(
            ring.destroy_unused(&path, &in_use).expect("destroy"),
            vec![k2]
        );
        assert!(ring.open(row1.as_bytes(), "blocked", t0()).is_ok());
        assert_eq!(
            ring.open(row2.as_bytes(), "blocked", t0()),
            Err(OpenError::UnknownKey(k2))
        );

        // Nothing in use: k1 goes, the current key k3 never does.
        assert_eq!(
            ring.destroy_unused(&path, &HashSet::new())
                .expect("destroy"),
            vec![k1]
        );
        assert_eq!(
            ring.open(row1.as_bytes(), "blocked", t0()),
            Err(OpenError::UnknownKey(k1))
        );
        let reloaded = SealingKeyRing::load(&path).expect("load");
        assert_eq!(reloaded.key_ids(), vec![k3]);
        assert!(reloaded.open(row1.as_bytes(), "blocked", t0()).is_err());
        // Ids are never reused.
        assert!(ring.rotate(&path).expect("rotate") > k3);
    }

    #[test]
    fn debug_is_redacted() {
        let ring = SealingKeyRing::generate();
        let s = format!("{ring:?}");
        assert!(s.contains("[REDACTED]"), "{s}");
        let secret_hex = hex::encode(ring.keys[&ring.current].secret);
        assert!(!s.contains(&secret_hex[..8]), "{s}");
        assert!(format!("{:?}", ring.block_key()).contains("[REDACTED]"));
        let sealed = ring.seal(&cip("198.51.100.7"), "blocked", t0());
        assert!(!format!("{sealed:?}").contains("198"));
    }

    #[test]
    fn block_hash_normalises() {
        let ring = SealingKeyRing::generate();
        let h = |s: &str| ring.block_hash(s.parse().expect("ip"));
        assert_eq!(h("::ffff:192.0.2.1"), h("192.0.2.1"));
        assert_eq!(h("2001:db8:0:1::1"), h("2001:db8:0:1::ff"));
        assert_ne!(h("192.0.2.1"), h("192.0.2.2"));
        assert_eq!(h("192.0.2.1").len(), 64);
        let other = SealingKeyRing::generate();
        assert_ne!(
            h("192.0.2.1"),
            other.block_hash("192.0.2.1".parse().expect("ip"))
        );
    }
}
