//! The marker of a `mestring restore` that has not finished, and the steps
//! that finish it (see `crate::backup` for why it exists). Apart from the
//! backup module because whatever opens the database (`crate::db`) must
//! check it, and the backup module itself opens the database.

use std::fs;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use mestring_crypto::keyfile;
use mestring_domain::id::Id;
use mestring_store::{Store, StoreError};

use crate::keys;

/// The marker of a restore not finished yet, in the data directory: the
/// database may hold accounts the deletion ledger says are deleted.
pub const RESTORE_PENDING_FILE: &str = "restore.pending";
/// The marker's first line; the second names the backup (`taken TIME`).
const PENDING_HEADER: &str = "mestring-restore-pending 1";

/// What [`finish_restore`] did.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Accounts deleted again because the ledger records their deletion.
    pub reapplied: usize,
    /// Data keys re-wrapped under the new key-encryption key.
    pub rewrapped: usize,
}

/// Whether a restore into this data directory's database has not
/// finished (see the module docs).
pub fn restore_pending(data_dir: &Path) -> anyhow::Result<bool> {
    let path = data_dir.join(RESTORE_PENDING_FILE);
    path.try_exists()
        .with_context(|| format!("cannot check for {}", path.display()))
}

/// Writes the marker, synced to disk, before the restore touches the
/// database (replacing the marker of an earlier restore that never got
/// its database in).
pub(crate) fn mark_pending(data_dir: &Path, taken: DateTime<Utc>) -> anyhow::Result<()> {
    let text = format!(
        "{PENDING_HEADER}\ntaken {}\n",
        taken.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    keyfile::replace(&data_dir.join(RESTORE_PENDING_FILE), text.as_bytes())?;
    Ok(())
}

/// The time of the backup the pending restore is of, if the marker says.
pub(crate) fn read_pending(data_dir: &Path) -> anyhow::Result<Option<DateTime<Utc>>> {
    let path = data_dir.join(RESTORE_PENDING_FILE);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(PENDING_HEADER) {
        return Ok(None);
    }
    Ok(lines
        .filter_map(|l| l.strip_prefix("taken "))
        .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// Finishes a restore whose database is in place: re-applies the deletion
/// ledger, seals what an older version stored in clear, rotates the
/// key-encryption keys (the ones the backup brought back retire), and only
/// then removes the marker. Every step may run again: an account already
/// deleted is not in the database to delete, and a rotation re-wraps what
/// is left. Called by `crate::backup::restore` and by `crate::db` whenever the marker is
/// there.
pub async fn finish_restore(
    store: &Store,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Finished> {
    let ledger = keys::ledger(data_dir)?;
    let reapplied = reapply_deletions(store, &ledger).await?;
    let keks = keys::keks(data_dir, now)?;
    keys::seal_legacy(store, &keks, now).await?;
    let rotation = keys::rotate_keks(store, &keks, now, true).await?;
    store.checkpoint().await?;
    let marker = data_dir.join(RESTORE_PENDING_FILE);
    match fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", marker.display())),
    }
    // The removal is not synced: if a crash loses it, the next start
    // finishes the restore again, which changes nothing.
    Ok(Finished {
        reapplied,
        rewrapped: rotation.rewrapped,
    })
}

/// Deletes every restored account the ledger says was deleted (with its
/// recorded time, so the organisation's deletion record is right), one
/// transaction each. A deletion that fails does not stop the others: each
/// one left undone is an account its user deleted, so as many as possible
/// go, and the error comes at the end (the marker stays, and the next
/// attempt retries the rest).
async fn reapply_deletions(
    store: &Store,
    ledger: &mestring_crypto::ledger::DeletionLedger,
) -> anyhow::Result<usize> {
    let recorded = ledger.read()?;
    if recorded.is_empty() {
        return Ok(0);
    }
    let ids = store.run(mestring_store::backup::account_ids).await?;
    let due: Vec<(Id, DateTime<Utc>)> = ids
        .into_iter()
        .filter_map(|id| {
            let at = *recorded.get(&ledger.tag(&id))?;
            Some((
                Id::from_trusted(id),
                DateTime::from_timestamp(at, 0).unwrap_or_default(),
            ))
        })
        .collect();
    let mut deleted = 0;
    let mut failed = 0;
    let mut first_error = None;
    for (id, at) in due {
        match store
            .run(move |conn| mestring_store::deletion::delete_account(conn, &id, at))
            .await
        {
            Ok(()) => deleted += 1,
            // Gone since the ids were read: nothing left to do.
            Err(StoreError::NotFound) => {}
            Err(e) => {
                // Names no account: the error is the database's.
                tracing::error!(error = %e, "re-applying a recorded deletion failed; going on");
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        None => Ok(deleted),
        Some(e) => Err(anyhow::Error::new(e).context(format!(
            "{failed} deletion(s) recorded in the deletion ledger could not be re-applied \
             ({deleted} were)"
        ))),
    }
}
