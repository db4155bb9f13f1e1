//! Key files: secrets on disk, readable only by the service's user.
//!
//! Invariants every function here keeps:
//! - a key file is created 0600 from its first byte (the temporary file it
//!   is written to is created 0600, never chmod-ed afterwards);
//! - a reader never sees a half-written file (write to a uniquely named
//!   temporary file beside it, fsync, then link or rename it into place);
//! - creating never replaces an existing file, even when two processes
//!   create the same key at once: [`create_new`] links the finished file
//!   into place, which fails if the name exists, and the loser reads the
//!   winner's file. (Checking for the file first and then writing would
//!   let both write, and one of them would use a key that is then lost.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::Secret;

/// What went wrong with a key file. Messages name the file, never its
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file system refused.
    #[error("key file {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Group or others may read or write the file.
    #[error("key file {path} has mode {mode:o}; it must be 0600 (run: chmod 600 {path})")]
    InsecurePermissions {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The contents are not what the file should hold.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong (never key material).
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` and missing parents as 0700 (existing ones are left as
/// they are).
pub fn create_private_dir(dir: &Path) -> Result<(), KeyFileError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

/// Writes `data` to a new, uniquely named 0600 file beside `path`, synced
/// to disk; returns its name.
fn write_temp(path: &Path, data: &[u8]) -> Result<PathBuf, KeyFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", hex::encode(suffix)));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = f.write_all(data).and_then(|()| f.sync_all()) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    Ok(tmp)
}

/// Makes a link or rename durable by syncing the directory.
fn sync_parent(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates the key file `path` holding `data` unless it exists. Returns
/// `true` if this call created it, `false` if the file was already there
/// (then nothing was written).
pub fn create_new(path: &Path, data: &[u8]) -> Result<bool, KeyFileError> {
    let tmp = write_temp(path, data)?;
    // hard_link fails if `path` exists: an atomic "create if absent" that
    // never shows a half-written file.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_parent(path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Replaces the key file `path` with `data` atomically (readers see the
/// old file or the new one, never a mix).
pub fn replace(path: &Path, data: &[u8]) -> Result<(), KeyFileError> {
    let tmp = write_temp(path, data)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_parent(path)
}

/// Opens a key file for reading after checking that only its owner may
/// access it.
pub fn open_private(path: &Path) -> Result<File, KeyFileError> {
    let file = File::open(path).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io_err(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(file)
}

/// Reads the 256-bit secret in `path` (64 hex digits), creating the file
/// with a fresh secret if it does not exist. Two processes calling this at
/// once end up with the same secret.
pub fn load_or_create_secret(path: &Path) -> Result<Secret, KeyFileError> {
    match read_secret(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let fresh = Secret::generate();
    create_new(path, hex::encode(fresh.expose()).as_bytes())?;
    // Whether this call or a concurrent one created it, the file decides.
    read_secret(path)
}

/// Reads an existing secret file (64 hex digits, 0600).
pub fn read_secret(path: &Path) -> Result<Secret, KeyFileError> {
    let text = io::read_to_string(open_private(path)?).map_err(io_err(path))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyFileError::Corrupt {
            path: path.to_owned(),
            reason: "not 64 hex digits".into(),
        })?;
    Ok(Secret::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn a_secret_is_created_once_0600_in_a_0700_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new").join("k.key");
        let a = load_or_create_secret(&path).expect("created");
        let b = load_or_create_secret(&path).expect("read back");
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().expect("dir")), 0o700);
        }
        let leftovers = fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn concurrent_creators_all_get_the_same_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("race.key");
        let secrets: Vec<Secret> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_secret(&path).expect("load or create")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(read_secret(&path).expect("file"), secrets[0]);
    }

    #[test]
    fn create_new_never_replaces_and_replace_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        assert!(create_new(&path, b"one").expect("created"));
        assert!(!create_new(&path, b"two").expect("exists"));
        assert_eq!(fs::read(&path).expect("read"), b"one");
        replace(&path, b"three").expect("replaced");
        assert_eq!(fs::read(&path).expect("read"), b"three");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_or_corrupt_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        load_or_create_secret(&path).expect("created");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load_or_create_secret(&path),
            Err(KeyFileError::InsecurePermissions { mode: 0o644, .. })
        ));
        let bad = dir.path().join("bad.key");
        assert!(create_new(&bad, b"not hex").expect("created"));
        assert!(matches!(
            read_secret(&bad),
            Err(KeyFileError::Corrupt { .. })
        ));
        // A corrupt key file is reported, never silently replaced.
        assert!(load_or_create_secret(&bad).is_err());
        assert_eq!(fs::read(&bad).expect("read"), b"not hex");
    }
}
