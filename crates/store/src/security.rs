//! Tables of the IP layer: sealed security events, daily tag keys, blocks
//! and the operator audit log. Nothing here refers to an account.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::id::Id;
use mestring_domain::policy;

use crate::schema::{audit_log, ip_blocks, ip_tag_keys, security_events};
use crate::stored_id::StoredId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A sealed security event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = security_events)]
pub struct SecurityEventRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// When the event happened (also bound into the seal).
    #[diesel(deserialize_as = StoredTime)]
    pub at: DateTime<Utc>,
    /// Event kind (`failed_login`, …).
    pub kind: String,
    /// Hex IP tag under the key of the day.
    pub tag: String,
    /// Sealing key id (for crypto-shredding).
    pub key_id: i64,
    /// `[version][key id][nonce][ciphertext+tag]`.
    pub sealed_ip: Vec<u8>,
}

impl SecurityEventRow {
    /// Writes one event.
    pub fn insert(
        conn: &mut DbConn,
        at: DateTime<Utc>,
        kind: &str,
        tag: &str,
        key_id: i64,
        sealed_ip: &[u8],
    ) -> Result<(), StoreError> {
        diesel::insert_into(security_events::table)
            .values((
                security_events::id.eq(Id::generate().as_str()),
                security_events::at.eq(to_db(at)),
                security_events::kind.eq(kind),
                security_events::tag.eq(tag),
                security_events::key_id.eq(key_id),
                security_events::sealed_ip.eq(sealed_ip),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Events since `since`, optionally of one kind, oldest first.
    pub fn list_since(
        conn: &mut DbConn,
        since: DateTime<Utc>,
        kind: Option<&str>,
    ) -> Result<Vec<Self>, StoreError> {
        let mut q = security_events::table
            .filter(security_events::at.ge(to_db(since)))
            .select(Self::as_select())
            .order(security_events::at.asc())
            .into_boxed();
        if let Some(kind) = kind {
            q = q.filter(security_events::kind.eq(kind.to_owned()));
        }
        q.load(conn).map_err(StoreError::from)
    }

    /// Deletes events older than `cutoff`; returns how many.
    pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(security_events::table.filter(security_events::at.lt(to_db(cutoff))))
                .execute(conn)?,
        )
    }

    /// Sealing key ids that still have rows.
    pub fn key_ids_in_use(conn: &mut DbConn) -> Result<Vec<i64>, StoreError> {
        security_events::table
            .select(security_events::key_id)
            .distinct()
            .load(conn)
            .map_err(StoreError::from)
    }
}

/// A daily tag key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ip_tag_keys)]
pub struct TagKeyRow {
    /// The UTC date the key is current for (`YYYY-MM-DD`).
    pub id: String,
    /// 32 random bytes.
    pub secret: Vec<u8>,
    /// When it was created.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
}

impl TagKeyRow {
    /// Returns the key for `day`, creating it if no instance has yet.
    /// Two instances racing both insert; the loser's insert fails on the
    /// primary key and it reads the winner's key.
    pub fn get_or_create(
        conn: &mut DbConn,
        day: &str,
        fresh_secret: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let existing = ip_tag_keys::table
            .find(day)
            .select(Self::as_select())
            .first(conn)
            .optional()?;
        if let Some(row) = existing {
            return Ok(row);
        }
        let inserted = diesel::insert_into(ip_tag_keys::table)
            .values((
                ip_tag_keys::id.eq(day),
                ip_tag_keys::secret.eq(&fresh_secret[..]),
                ip_tag_keys::created_at.eq(to_db(now)),
            ))
            .execute(conn);
        match inserted.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        ip_tag_keys::table
            .find(day)
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Finds the key for `day`.
    pub fn find(conn: &mut DbConn, day: &str) -> Result<Option<Self>, StoreError> {
        ip_tag_keys::table
            .find(day)
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// Deletes keys older than [`policy::retention::TAG_KEY`].
    pub fn purge_old(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(diesel::delete(
            ip_tag_keys::table
                .filter(ip_tag_keys::created_at.lt(to_db(now - policy::retention::TAG_KEY))),
        )
        .execute(conn)?)
    }
}

/// Blocks, by keyed hash.
pub struct IpBlocks;

impl IpBlocks {
    /// Blocks `hash` until `until` (or for good), replacing a block it
    /// has. Two statements: call it inside a transaction, or a failure
    /// between them lifts the block it was to replace.
    pub fn block(
        conn: &mut DbConn,
        hash: &str,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::delete(ip_blocks::table.find(hash)).execute(conn)?;
        diesel::insert_into(ip_blocks::table)
            .values((
                ip_blocks::block_hash.eq(hash),
                ip_blocks::created_at.eq(to_db(now)),
                ip_blocks::until_at.eq(until.map(to_db)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Lifts a block; returns whether one existed.
    pub fn unblock(conn: &mut DbConn, hash: &str) -> Result<bool, StoreError> {
        Ok(diesel::delete(ip_blocks::table.find(hash)).execute(conn)? > 0)
    }

    /// Hashes blocked at `now`; expired blocks are deleted on the way.
    pub fn active(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        diesel::delete(ip_blocks::table.filter(ip_blocks::until_at.le(to_db(now))))
            .execute(conn)?;
        ip_blocks::table
            .select(ip_blocks::block_hash)
            .load(conn)
            .map_err(StoreError::from)
    }
}

/// An operator audit row: who ran which command, when, on what (ids
/// only) and why. Never the content of what was revealed or changed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// When it happened.
    #[diesel(deserialize_as = StoredTime)]
    pub at: DateTime<Utc>,
    /// What was done (`ip_reveal`, `correction_void_answer`, …).
    pub action: String,
    /// The reason the operator gave.
    pub reason: String,
    /// How many rows the action touched or revealed.
    pub row_count: i64,
    /// Who ran it: the operator's name (`MESTRING_OPERATOR`) or login.
    pub actor: String,
    /// What it acted on, as ids (`feedback=REF answer=ID`); empty when the
    /// action has no single subject.
    pub subject: String,
}

/// What a new audit row records.
#[derive(Debug)]
pub struct NewAudit<'a> {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// On what (ids only).
    pub subject: &'a str,
    /// Why.
    pub reason: &'a str,
    /// How many rows.
    pub row_count: i64,
}

impl AuditRow {
    /// Records an action.
    pub fn insert(conn: &mut DbConn, new: &NewAudit<'_>) -> Result<(), StoreError> {
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::id.eq(Id::generate().as_str()),
                audit_log::at.eq(to_db(new.at)),
                audit_log::action.eq(new.action),
                audit_log::reason.eq(new.reason),
                audit_log::row_count.eq(new.row_count),
                audit_log::actor.eq(new.actor),
                audit_log::subject.eq(new.subject),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// All audit rows, newest first.
    pub fn list(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        audit_log::table
            .select(Self::as_select())
            .order((audit_log::at.desc(), audit_log::id.asc()))
            .load(conn)
            .map_err(StoreError::from)
    }
}
