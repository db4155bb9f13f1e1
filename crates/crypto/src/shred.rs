//! Crypto-shredding: what an account writes is sealed under that account's
//! own data key, and the data key is stored only wrapped under a
//! key-encryption key (KEK) kept in a file outside the database.
//!
//! Deleting an account deletes its wrapped data key with its rows. Copies
//! of the deleted rows may linger where the database cannot reach (heap
//! pages before vacuum, the write-ahead log, WAL archives, backups), but
//! they hold only ciphertext and a wrapped key. The KEKs rotate: a new one
//! becomes current, every live data key is re-wrapped under it, and the
//! retired KEK file is overwritten and removed. From then on no file
//! anywhere can open a deleted account's data key, so nothing it wrote can
//! be read.
//!
//! # Formats
//!
//! ```text
//! KEK file      <dir>/kek-<id, 8 digits>.key, 0600: 64 hex digits, a space, the creation time (unix seconds)
//! wrapped key   1 (version) || KEK id (4 bytes BE) || nonce || sealed data key || tag
//!               aad "mestring/data-key/v1\0" || account id
//! sealed value  1 (version) || nonce || ciphertext || tag
//!               aad "mestring/account-data/v1\0" || purpose || "\0" || row id
//! ```
//!
//! Invariants:
//! - the current KEK is the one with the highest id; ids only grow;
//! - a KEK file is never rewritten: rotation creates a new file, and
//!   destruction overwrites the old one with zeros before unlinking it;
//! - a wrapped key and a sealed value open only for the account (and
//!   purpose and row) they were sealed for.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::keyfile::{self, KeyFileError};
use crate::{Sealer, Secret};

const WRAP_VERSION: u8 = 1;
const WRAP_AAD: &[u8] = b"mestring/data-key/v1\0";
const VALUE_HEADER: &[u8] = &[1];
const VALUE_AAD: &[u8] = b"mestring/account-data/v1\0";

/// One account's data key. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct DataKey {
    secret: Secret,
    sealer: Sealer,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        Self::from_secret(Secret::generate())
    }

    fn from_secret(secret: Secret) -> Self {
        let sealer = Sealer::new(&secret);
        Self { secret, sealer }
    }

    /// Seals `plaintext` for one `purpose` (e.g. `feedback.body`) of one
    /// row: the result opens only with this key, purpose and row id.
    pub fn seal(&self, purpose: &str, row_id: &str, plaintext: &[u8]) -> Vec<u8> {
        self.sealer
            .seal(VALUE_HEADER, &value_aad(purpose, row_id), plaintext)
    }

    /// Opens what [`DataKey::seal`] sealed for the same purpose and row;
    /// `None` if anything differs or the bytes were altered.
    pub fn open(&self, purpose: &str, row_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.sealer
            .open(VALUE_HEADER, &value_aad(purpose, row_id), sealed)
    }

    /// The raw key bytes, for tests that look for them in files.
    pub fn expose(&self) -> &[u8; 32] {
        self.secret.expose()
    }
}

fn value_aad(purpose: &str, row_id: &str) -> Vec<u8> {
    let mut aad = VALUE_AAD.to_vec();
    aad.extend_from_slice(purpose.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row_id.as_bytes());
    aad
}

fn wrap_aad(account: &str) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(account.as_bytes());
    aad
}

fn wrap_header(kek: u32) -> [u8; 5] {
    let id = kek.to_be_bytes();
    [WRAP_VERSION, id[0], id[1], id[2], id[3]]
}

/// The KEK id a wrapped key names, if it is well formed.
pub fn wrapped_kek_id(wrapped: &[u8]) -> Option<u32> {
    match wrapped {
        [WRAP_VERSION, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// One key-encryption key as found on disk.
#[derive(Clone)]
struct Kek {
    created_unix: i64,
    sealer: Sealer,
    path: PathBuf,
}

/// The KEKs in a directory, read at one moment. `Debug` prints ids only.
#[derive(Clone)]
pub struct KekRing {
    dir: PathBuf,
    keks: BTreeMap<u32, Kek>,
}

impl std::fmt::Debug for KekRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KekRing")
            .field("dir", &self.dir)
            .field("ids", &self.keks.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn kek_file_name(id: u32) -> String {
    format!("kek-{id:08}.key")
}

fn parse_kek_file_name(name: &str) -> Option<u32> {
    let id = name.strip_prefix("kek-")?.strip_suffix(".key")?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// Reads a KEK file: 64 hex digits, a space, the creation time.
fn read_kek(path: &Path) -> Result<(Secret, i64), KeyFileError> {
    let corrupt = |reason: &str| KeyFileError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    };
    let text =
        io::read_to_string(keyfile::open_private(path)?).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
    let (key, created) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| corrupt("not \"<64 hex digits> <unix time>\""))?;
    let bytes: [u8; 32] = hex::decode(key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("the key is not 64 hex digits"))?;
    let created = created
        .parse()
        .map_err(|_| corrupt("the creation time is not a number"))?;
    Ok((Secret::from_bytes(bytes), created))
}

impl KekRing {
    /// Reads every KEK in `dir` (created 0700 if missing); creates the
    /// first one, dated `now_unix`, if there is none.
    pub fn load_or_create(dir: &Path, now_unix: i64) -> Result<Self, KeyFileError> {
        let ring = Self::load(dir)?;
        if !ring.keks.is_empty() {
            return Ok(ring);
        }
        ring.create_next(now_unix)?;
        Self::load(dir)
    }

    /// Reads every KEK in `dir` (created 0700 if missing). Files that are
    /// not KEKs are ignored; an unreadable or corrupt KEK is an error.
    pub fn load(dir: &Path) -> Result<Self, KeyFileError> {
        keyfile::create_private_dir(dir)?;
        let io_err = |source| KeyFileError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut keks = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(parse_kek_file_name) else {
                continue;
            };
            let path = entry.path();
            let (secret, created_unix) = read_kek(&path)?;
            keks.insert(
                id,
                Kek {
                    created_unix,
                    sealer: Sealer::new(&secret),
                    path,
                },
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
            keks,
        })
    }

    /// The current KEK's id and creation time (unix seconds); `None` for
    /// an empty ring.
    pub fn current(&self) -> Option<(u32, i64)> {
        self.keks
            .iter()
            .next_back()
            .map(|(id, k)| (*id, k.created_unix))
    }

    /// Every KEK: id, creation time (unix seconds), oldest first.
    pub fn ids(&self) -> Vec<(u32, i64)> {
        self.keks
            .iter()
            .map(|(id, k)| (*id, k.created_unix))
            .collect()
    }

    /// Writes a new KEK file with the next id, dated `now_unix`. Returns
    /// its id, or `None` when another process created that id first (the
    /// caller reloads and finds theirs). The file name is the id alone,
    /// so exactly one creator of an id wins.
    pub fn create_next(&self, now_unix: i64) -> Result<Option<u32>, KeyFileError> {
        let id = self.current().map_or(1, |(id, _)| id.saturating_add(1));
        let fresh = Secret::generate();
        let contents = format!("{} {now_unix}\n", hex::encode(fresh.expose()));
        let created = keyfile::create_new(&self.dir.join(kek_file_name(id)), contents.as_bytes())?;
        Ok(created.then_some(id))
    }

    /// Wraps `key` for `account` under the current KEK: (KEK id, bytes).
    /// `None` for an empty ring.
    pub fn wrap(&self, account: &str, key: &DataKey) -> Option<(u32, Vec<u8>)> {
        let (id, kek) = self.keks.iter().next_back()?;
        let wrapped = kek
            .sealer
            .seal(&wrap_header(*id), &wrap_aad(account), key.expose());
        Some((*id, wrapped))
    }

    /// Opens a wrapped key of `account`. `None` if its KEK is not in this
    /// ring (destroyed, or created after this ring was read) or the bytes
    /// were sealed for another account or altered.
    pub fn unwrap_key(&self, account: &str, wrapped: &[u8]) -> Option<DataKey> {
        let id = wrapped_kek_id(wrapped)?;
        let kek = self.keks.get(&id)?;
        let bytes = kek
            .sealer
            .open(&wrap_header(id), &wrap_aad(account), wrapped)?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey::from_secret(Secret::from_bytes(bytes)))
    }

    /// Overwrites the KEK `id`'s file with zeros, syncs, and removes it.
    /// Whatever is wrapped only under it can never be opened again.
    pub fn destroy(&self, id: u32) -> Result<(), KeyFileError> {
        match self.keks.get(&id) {
            Some(kek) => destroy_file(&kek.path),
            None => Ok(()),
        }
    }
}

/// Overwrites a file in place with zeros, syncs it, unlinks it and syncs
/// the directory. On copy-on-write or flash storage the old blocks may
/// survive below the file system; that residue is the disk's (use
/// encrypted volumes), but no path and no process can read it back.
fn destroy_file(path: &Path) -> Result<(), KeyFileError> {
    let err = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    let mut f = fs::OpenOptions::new().write(true).open(path).map_err(err)?;
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(64)];
    f.write_all(&zeros)
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    drop(f);
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

/// A [`KekRing`] shared by a process's threads, re-read from disk when it
/// may be stale: at least every `max_age` (so a KEK another process
/// created becomes current here within that time), and whenever a wrapped
/// key names a KEK this copy does not have.
#[derive(Debug, Clone)]
pub struct SharedKekRing {
    inner: Arc<RwLock<(KekRing, Instant)>>,
    max_age: Duration,
}

impl SharedKekRing {
    /// Loads (creating the first KEK if needed) the ring in `dir`.
    pub fn open(dir: &Path, now_unix: i64, max_age: Duration) -> Result<Self, KeyFileError> {
        let ring = KekRing::load_or_create(dir, now_unix)?;
        Ok(Self {
            inner: Arc::new(RwLock::new((ring, Instant::now()))),
            max_age,
        })
    }

    /// The ring as read last, re-read first if older than `max_age`.
    pub fn snapshot(&self) -> Result<KekRing, KeyFileError> {
        {
            let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if guard.1.elapsed() < self.max_age {
                return Ok(guard.0.clone());
            }
        }
        self.reload()
    }

    /// Re-reads the ring from disk now.
    pub fn reload(&self) -> Result<KekRing, KeyFileError> {
        let dir = {
            let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
            guard.0.dir.clone()
        };
        let fresh = KekRing::load(&dir)?;
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *guard = (fresh.clone(), Instant::now());
        Ok(fresh)
    }

    /// Opens a wrapped key, re-reading the ring once if its KEK is not
    /// known here yet (another process rotated).
    pub fn unwrap_key(
        &self,
        account: &str,
        wrapped: &[u8],
    ) -> Result<Option<DataKey>, KeyFileError> {
        let ring = self.snapshot()?;
        if let Some(key) = ring.unwrap_key(account, wrapped) {
            return Ok(Some(key));
        }
        let known = wrapped_kek_id(wrapped).is_some_and(|id| ring.keks.contains_key(&id));
        if known {
            return Ok(None);
        }
        Ok(self.reload()?.unwrap_key(account, wrapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn values_open_only_for_their_purpose_and_row() {
        let key = DataKey::generate();
        let sealed = key.seal("feedback.body", "row-1", b"hello");
        assert_eq!(
            key.open("feedback.body", "row-1", &sealed).as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(key.open("feedback.body", "row-2", &sealed), None);
        assert_eq!(key.open("registration.note", "row-1", &sealed), None);
        assert_eq!(
            DataKey::generate().open("feedback.body", "row-1", &sealed),
            None
        );
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        assert_eq!(format!("{key:?}"), "DataKey([REDACTED])");
    }

    #[test]
    fn a_wrapped_key_opens_for_its_account_until_its_kek_is_destroyed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KekRing::load_or_create(dir.path(), 1_000).expect("ring");
        assert_eq!(ring.current(), Some((1, 1_000)));
        let key = DataKey::generate();
        let (kek, wrapped) = ring.wrap("acc-1", &key).expect("wrapped");
        assert_eq!(kek, 1);
        assert_eq!(wrapped_kek_id(&wrapped), Some(1));
        let opened = ring.unwrap_key("acc-1", &wrapped).expect("opens");
        assert_eq!(opened.expose(), key.expose());
        assert!(
            ring.unwrap_key("acc-2", &wrapped).is_none(),
            "other account"
        );

        // Rotate: a new KEK, re-wrap, destroy the old one.
        assert_eq!(ring.create_next(2_000).expect("created"), Some(2));
        let ring = KekRing::load(dir.path()).expect("reload");
        assert_eq!(ring.current(), Some((2, 2_000)));
        let (kek, rewrapped) = ring.wrap("acc-1", &opened).expect("rewrapped");
        assert_eq!(kek, 2);
        ring.destroy(1).expect("destroyed");
        let ring = KekRing::load(dir.path()).expect("reload");
        assert_eq!(ring.ids(), vec![(2, 2_000)]);
        assert!(
            ring.unwrap_key("acc-1", &wrapped).is_none(),
            "old wrap is dead"
        );
        let live = ring
            .unwrap_key("acc-1", &rewrapped)
            .expect("live wrap opens");
        assert_eq!(live.expose(), key.expose());
        assert_eq!(files(dir.path()), vec![kek_file_name(2)]);
    }

    #[test]
    fn a_second_creator_of_the_same_id_withdraws() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KekRing::load_or_create(dir.path(), 1_000).expect("ring");
        // Two processes, both holding the ring with only KEK 1.
        let a = ring.create_next(2_000).expect("a");
        let b = ring.create_next(2_001).expect("b");
        assert_eq!(a, Some(2));
        assert_eq!(b, None, "the second creator of id 2 loses");
        let ring = KekRing::load(dir.path()).expect("reload");
        assert_eq!(ring.ids(), vec![(1, 1_000), (2, 2_000)]);
    }

    #[test]
    fn the_shared_ring_finds_a_kek_made_by_another_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared =
            SharedKekRing::open(dir.path(), 1_000, Duration::from_secs(3600)).expect("open");
        let other = KekRing::load(dir.path()).expect("other process");
        other.create_next(2_000).expect("rotated elsewhere");
        let other = KekRing::load(dir.path()).expect("reload");
        let key = DataKey::generate();
        let (kek, wrapped) = other.wrap("acc", &key).expect("wrap");
        assert_eq!(kek, 2);
        let opened = shared
            .unwrap_key("acc", &wrapped)
            .expect("reads")
            .expect("found after reload");
        assert_eq!(opened.expose(), key.expose());
        assert!(
            shared
                .unwrap_key("other", &wrapped)
                .expect("reads")
                .is_none()
        );
    }

    #[test]
    fn kek_file_names_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_kek_file_name(&kek_file_name(7)), Some(7));
        assert_eq!(parse_kek_file_name("kek-7.key"), None);
        assert_eq!(parse_kek_file_name("kek-+0000007.key"), None);
        assert_eq!(parse_kek_file_name("notes.txt"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("README"), "x").expect("write");
        let ring = KekRing::load_or_create(dir.path(), 5).expect("ring");
        assert_eq!(ring.ids(), vec![(1, 5)]);
        // A damaged KEK is an error, never skipped or replaced.
        keyfile::create_new(&dir.path().join(kek_file_name(2)), b"zz 5").expect("write");
        assert!(matches!(
            KekRing::load(dir.path()),
            Err(KeyFileError::Corrupt { .. })
        ));
    }
}
