//! The deletion ledger: a file outside the database that remembers which
//! accounts were deleted, so restoring a backup taken before a deletion
//! does not bring the account back (`mestring restore` re-applies it).
//!
//! Each line is `<tag> <deleted at, unix seconds>`, where the tag is
//! HMAC-SHA256 of the account id under the ledger's own key (a key file
//! beside it). The ledger therefore names no account: without the key a
//! tag cannot be matched to an id, and with it only to an id one already
//! holds (the restored backup's).
//!
//! Invariants: lines are only appended, each with one `write` to a file
//! opened for appending and synced before [`DeletionLedger::record`]
//! returns; a torn last line (a crash mid-write) is skipped on reading.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;
use crate::keyfile::{self, KeyFileError};

/// The ledger file and its key. `Debug` shows the path only.
#[derive(Clone)]
pub struct DeletionLedger {
    path: PathBuf,
    key: Secret,
}

impl std::fmt::Debug for DeletionLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeletionLedger")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DeletionLedger {
    /// The ledger `path`, keyed by the key file `key_path` (created 0600
    /// on first use).
    pub fn open(path: &Path, key_path: &Path) -> Result<Self, KeyFileError> {
        Ok(Self {
            path: path.to_owned(),
            key: keyfile::load_or_create_secret(key_path)?,
        })
    }

    /// The tag an account id is recorded under.
    pub fn tag(&self, account: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"mestring/deletion-ledger/v1\0");
        mac.update(account.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Records that `account` was deleted at `deleted_unix`, durably.
    pub fn record(&self, account: &str, deleted_unix: i64) -> Result<(), KeyFileError> {
        let err = |source| KeyFileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path).map_err(err)?;
        // After a torn write the file does not end in a newline: start on
        // a fresh line, so the torn one stays the only damaged line.
        let torn = {
            use std::io::{Read, Seek, SeekFrom};
            let len = f.metadata().map_err(err)?.len();
            let mut last = [b'\n'];
            if len > 0 {
                f.seek(SeekFrom::Start(len - 1)).map_err(err)?;
                f.read_exact(&mut last).map_err(err)?;
            }
            last[0] != b'\n'
        };
        let line = format!(
            "{}{} {deleted_unix}\n",
            if torn { "\n" } else { "" },
            self.tag(account)
        );
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(err)
    }

    /// Every recorded deletion: tag → deletion time (unix seconds). A
    /// missing ledger is empty.
    pub fn read(&self) -> Result<HashMap<String, i64>, KeyFileError> {
        let text = match keyfile::open_private(&self.path) {
            Ok(f) => io::read_to_string(f).map_err(|source| KeyFileError::Io {
                path: self.path.clone(),
                source,
            })?,
            Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(HashMap::new());
            }
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let (tag, at) = line.split_once(' ')?;
                let ok = tag.len() == 64 && tag.bytes().all(|b| b.is_ascii_hexdigit());
                Some((tag.to_owned(), at.parse().ok()?)).filter(|_| ok)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_deletions_are_read_back_by_tag_and_name_no_account() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deletions.ledger");
        let key = dir.path().join("deletion-ledger.key");
        let ledger = DeletionLedger::open(&path, &key).expect("open");
        assert!(ledger.read().expect("empty").is_empty());
        ledger.record("ACCOUNT1", 100).expect("recorded");
        ledger.record("ACCOUNT2", 200).expect("recorded");
        let again = DeletionLedger::open(&path, &key).expect("reopen");
        let read = again.read().expect("read");
        assert_eq!(read.get(&again.tag("ACCOUNT1")), Some(&100));
        assert_eq!(read.get(&again.tag("ACCOUNT2")), Some(&200));
        assert_eq!(read.get(&again.tag("ACCOUNT3")), None);
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(!text.contains("ACCOUNT"), "ids never appear in the file");
        // Another key: the same ids get other tags.
        let other = DeletionLedger::open(&path, &dir.path().join("other.key")).expect("other");
        assert_ne!(other.tag("ACCOUNT1"), again.tag("ACCOUNT1"));
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l");
        let ledger = DeletionLedger::open(&path, &dir.path().join("k")).expect("open");
        ledger.record("A", 1).expect("recorded");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"abcdef").expect("torn write");
        let read = ledger.read().expect("read");
        assert_eq!(read.len(), 1);
        assert_eq!(read.get(&ledger.tag("A")), Some(&1));
        // The next record starts on its own line and is read.
        ledger.record("B", 2).expect("recorded");
        let read = ledger.read().expect("read");
        assert_eq!(read.len(), 2);
        assert_eq!(read.get(&ledger.tag("B")), Some(&2));
    }
}
