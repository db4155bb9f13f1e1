//! Text an older version stored in clear, sealed under the accounts' data
//! keys (`mestring migrate` and every start run this).

use chrono::{DateTime, Utc};
use mestring_crypto::shred::SharedKekRing;

use crate::{DbConn, StoreError};

/// Seals everything an older version stored in clear (feedback texts,
/// registration notes, item answers) under the accounts' data keys and
/// empties the clear columns, in one transaction; returns how many rows
/// or responses it sealed. Idempotent and cheap when there is nothing
/// left. The clear bytes may remain in old PostgreSQL pages until vacuum:
/// docs/deletion.md says what to run once after upgrading.
pub fn seal_legacy(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    crate::conn::transaction_on(conn, |conn| {
        Ok(crate::feedback::FeedbackRow::seal_legacy(conn, ring, now)?
            + crate::registrations::seal_legacy(conn, ring, now)?
            + crate::responses::seal_legacy(conn, ring, now)?)
    })
}
