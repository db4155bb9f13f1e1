//! Which secret key files belong to this database: a keyed fingerprint of
//! each, stored the first time the file is used with the database, so a
//! node started with another file (a second node that made its own pepper,
//! a wrong copy) is refused at start instead of, for instance, hashing
//! codes under another pepper. The fingerprint is an HMAC under the key
//! itself (`mestring_crypto::keyfile::fingerprint`): it identifies the key
//! and reveals nothing of it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::staff;
use crate::schema::{accounts, installation_keys};
use crate::{DbConn, StoreError, to_db};

/// Whether the database holds anything a key already protects: an
/// account (its code hashed under the pepper) or a staff member (a TOTP
/// secret sealed under the data-sealing key).
pub fn holds_data(conn: &mut DbConn) -> Result<bool, StoreError> {
    let account = diesel::select(diesel::dsl::exists(accounts::table.select(accounts::id)))
        .get_result::<bool>(conn)?;
    if account {
        return Ok(true);
    }
    Ok(diesel::select(diesel::dsl::exists(staff::table.select(staff::id))).get_result(conn)?)
}

/// The stored fingerprint of the key file `name`, if any.
pub fn fingerprint(conn: &mut DbConn, name: &str) -> Result<Option<String>, StoreError> {
    Ok(installation_keys::table
        .find(name)
        .select(installation_keys::fingerprint)
        .first(conn)
        .optional()?)
}

/// Stores `fingerprint` for `name` unless one is stored already (two
/// nodes starting at once: the first wins), and returns the one stored.
pub fn remember(
    conn: &mut DbConn,
    name: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let inserted = crate::conn::transaction_on(conn, |conn| {
        diesel::insert_into(installation_keys::table)
            .values((
                installation_keys::name.eq(name),
                installation_keys::fingerprint.eq(fingerprint),
                installation_keys::created_at.eq(to_db(now)),
            ))
            .execute(conn)
            .map_err(StoreError::from)
    });
    match inserted {
        Ok(_) | Err(StoreError::Conflict) => {
            self::fingerprint(conn, name)?.ok_or(StoreError::NotFound)
        }
        Err(e) => Err(e),
    }
}
