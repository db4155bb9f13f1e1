//! Per-account data keys, stored wrapped under the key-encryption keys
//! (KEKs) in the data directory: crypto-shredding (docs/deletion.md,
//! `mestring_crypto::shred`).
//!
//! Invariants:
//! - an account has at most one data key; it is created on its first
//!   sealed write and never replaced while the account exists;
//! - what an account writes as free text, registration notes and item
//!   answers is stored only sealed under that key;
//! - the row goes with the account (`ON DELETE CASCADE`); after
//!   [`rotate`] has retired and destroyed the KEK it was wrapped under,
//!   no copy of the row opens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, KekRing, SharedKekRing};
use mestring_domain::id::Id;
use mestring_domain::policy::shredding;

use crate::schema::account_keys;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// The purpose a feedback text is sealed for (its row id: the feedback id).
pub(crate) const FEEDBACK_BODY: &str = "feedback.body_sealed";
/// The purpose a registration note is sealed for (its row id:
/// [`note_row_id`]).
pub(crate) const REGISTRATION_NOTE: &str = "registration_values.text_sealed";
/// The purpose a response's item answers are sealed for (its row id: the
/// response id).
pub(crate) const RESPONSE_ANSWERS: &str = "questionnaire_responses.answers_sealed";

/// One answer as sealed: item id, option value, weight.
pub(crate) type SealedAnswer = (String, i64, i64);

/// The row id a note is sealed for: its entry and field.
pub(crate) fn note_row_id(entry_id: &str, field_id: &str) -> String {
    format!("{entry_id}/{field_id}")
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = account_keys)]
pub(crate) struct AccountKeyRow {
    account_id: String,
    kek_id: i64,
    wrapped: Vec<u8>,
    #[allow(dead_code)] // read so the row type matches the table
    #[diesel(deserialize_as = StoredTime)]
    created_at: DateTime<Utc>,
}

/// The column named by [`StoreError::Sealed`] when an account's data key
/// does not open (its KEK is gone or the bytes were altered).
pub const WRAPPED_KEY: &str = "account_keys.wrapped";

fn open_row(ring: &SharedKekRing, row: &AccountKeyRow) -> Result<DataKey, StoreError> {
    ring.unwrap_key(&row.account_id, &row.wrapped)?
        .ok_or(StoreError::Sealed(WRAPPED_KEY))
}

/// The account's data key if it has one (it has none until it first
/// writes something sealed).
pub fn for_reading(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
) -> Result<Option<DataKey>, StoreError> {
    let row: Option<AccountKeyRow> = account_keys::table
        .find(account.as_str())
        .select(AccountKeyRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| open_row(ring, &r)).transpose()
}

/// The data keys of several accounts (those that have one), by account id.
pub fn for_reading_many(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    accounts: &[&str],
) -> Result<HashMap<String, DataKey>, StoreError> {
    let mut out = HashMap::new();
    for chunk in accounts.chunks(500) {
        let rows: Vec<AccountKeyRow> = account_keys::table
            .filter(account_keys::account_id.eq_any(chunk))
            .select(AccountKeyRow::as_select())
            .load(conn)?;
        for r in rows {
            let key = open_row(ring, &r)?;
            out.insert(r.account_id, key);
        }
    }
    Ok(out)
}

/// Takes the account's key row for this transaction, so that a sealed
/// write and a [`rekey`] of the same account take turns: whoever comes
/// second waits until the first has committed and then reads what it
/// wrote. Without it a write could read the key, a rekey could re-seal
/// the account's values and replace the key, and the write could then
/// store a value sealed under a key that no longer exists: that value
/// never opens again, and every later rekey of the account fails on it.
///
/// On PostgreSQL the key row is locked `FOR NO KEY UPDATE` (the lock an
/// UPDATE of the row takes, without writing a new row version). The
/// account row is locked `FOR KEY SHARE` first, the lock a row of the
/// account's data inserted in this transaction takes anyway: taking it
/// before the key row keeps the order an account deletion uses (the
/// account row, then its key row by cascade), so a sealed write and a
/// deletion of the same account wait for each other instead of
/// deadlocking. On SQLite there is nothing to lock: a write transaction
/// holds the database's one write lock (`BEGIN IMMEDIATE`), and a
/// deferred one that read before another writer committed fails when it
/// writes instead of writing what it read.
///
/// Must run inside a transaction; the lock is held until it ends.
fn lock_key(conn: &mut DbConn, account: &Id) -> Result<(), StoreError> {
    if !crate::conn::in_transaction(conn)? {
        return Err(StoreError::Query(diesel::result::Error::NotInTransaction));
    }
    if let DbConn::Pg(pg) = conn {
        use crate::schema::accounts;
        accounts::table
            .find(account.as_str())
            .select(accounts::id)
            .for_key_share()
            .first::<String>(pg)
            .optional()?;
        account_keys::table
            .find(account.as_str())
            .select(account_keys::account_id)
            .for_no_key_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// The account's data key, created and stored (wrapped under the current
/// KEK) if it has none yet.
///
/// Must be called inside the transaction that stores what is sealed with
/// the key (an error otherwise): it locks the key row first (see
/// `lock_key`), so no [`rekey`] of the account can replace the key
/// until that transaction has committed, and a rekey in flight is waited
/// for and its new key returned.
pub fn for_writing(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
    now: DateTime<Utc>,
) -> Result<DataKey, StoreError> {
    lock_key(conn, account)?;
    if let Some(key) = for_reading(conn, ring, account)? {
        return Ok(key);
    }
    let key = DataKey::generate();
    let (kek, wrapped) = ring
        .snapshot()?
        .wrap(account.as_str(), &key)
        .ok_or_else(|| StoreError::Keys("no key-encryption key in the ring".into()))?;
    // A savepoint: two first writes of one account at once (two tabs) make
    // the loser's insert fail without aborting its whole transaction on
    // PostgreSQL; the loser then uses the winner's key. The winner's own
    // insert holds its new row until it commits.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(account_keys::table)
            .values((
                account_keys::account_id.eq(account.as_str()),
                account_keys::kek_id.eq(i64::from(kek)),
                account_keys::wrapped.eq(&wrapped),
                account_keys::created_at.eq(to_db(now)),
            ))
            .execute(conn)
            .map_err(StoreError::from)
    });
    match inserted {
        Ok(_) => Ok(key),
        Err(StoreError::Conflict) => {
            // The winner's row now exists: lock it as above before reading.
            lock_key(conn, account)?;
            for_reading(conn, ring, account)?.ok_or(StoreError::Sealed(WRAPPED_KEY))
        }
        Err(e) => Err(e),
    }
}

/// One wrapped data key per key-encryption key in use: `(kek id,
/// account id, wrapped key)`. A node checks at start that its KEK ring
/// opens each (two index reads per KEK).
pub fn one_per_kek(conn: &mut DbConn) -> Result<Vec<(u32, String, Vec<u8>)>, StoreError> {
    let keks: Vec<i64> = account_keys::table
        .select(account_keys::kek_id)
        .distinct()
        .load(conn)?;
    let mut out = Vec::with_capacity(keks.len());
    for kek in keks {
        let (account, wrapped): (String, Vec<u8>) = account_keys::table
            .filter(account_keys::kek_id.eq(kek))
            .select((account_keys::account_id, account_keys::wrapped))
            .first(conn)?;
        out.push((u32::try_from(kek).unwrap_or(u32::MAX), account, wrapped));
    }
    Ok(out)
}

/// The wrapped data key as stored, for tests that check it no longer
/// opens after a deletion and a rotation.
pub fn wrapped_of(conn: &mut DbConn, account: &Id) -> Result<Option<Vec<u8>>, StoreError> {
    account_keys::table
        .find(account.as_str())
        .select(account_keys::wrapped)
        .first(conn)
        .optional()
        .map_err(StoreError::from)
}

/// Opens a sealed text value; `Sealed(column)` if there is no key or it
/// does not open.
pub fn open_text(
    key: Option<&DataKey>,
    column: &'static str,
    row_id: &str,
    sealed: &[u8],
) -> Result<String, StoreError> {
    let bytes = key
        .and_then(|k| k.open(column, row_id, sealed))
        .ok_or(StoreError::Sealed(column))?;
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(column))
}

/// What one rotation pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The KEK created by this pass, if its predecessor was due.
    pub created: Option<u32>,
    /// Data keys re-wrapped under the current KEK.
    pub rewrapped: usize,
    /// Data keys whose KEK is missing: they cannot be re-wrapped and their
    /// data is lost. Always 0 unless a key file was removed by hand.
    pub unopenable: usize,
    /// Data keys replaced by a concurrent rekey between being read and
    /// re-wrapped: left as the rekey wrote them (re-wrapping the key read
    /// would have lost everything it re-sealed), for the next pass.
    pub raced: usize,
    /// Retired KEKs destroyed by this pass.
    pub destroyed: Vec<u32>,
}

/// One rotation pass (idempotent; safe on every instance at once):
/// 1. if the current KEK has been current for
///    [`shredding::ROTATE_EVERY`] (or `force`), a new one takes over;
/// 2. every data key still wrapped under an older KEK is re-wrapped
///    under the current one, [`shredding::REWRAP_BATCH`] per transaction,
///    unless it changed since it was read (a compare-and-swap on the
///    wrapped bytes: a concurrent [`rekey`] is never reverted; such a key
///    is left for the next pass);
/// 3. every older KEK retired for at least [`shredding::RETIRED_GRACE`]
///    that no data key is wrapped under any more is destroyed.
///
/// Nothing here rewrites a table: one small row per account is updated.
pub fn rotate(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    now: DateTime<Utc>,
    force: bool,
) -> Result<Rotation, StoreError> {
    let mut report = Rotation::default();
    let mut snapshot = ring.reload()?;
    let due = snapshot.current().is_none_or(|(_, created)| {
        now.timestamp().saturating_sub(created) >= shredding::ROTATE_EVERY.num_seconds()
    });
    if force || due {
        report.created = snapshot.create_next(now.timestamp())?;
        snapshot = ring.reload()?;
    }
    let Some((current, _)) = snapshot.current() else {
        return Err(StoreError::Keys("no key-encryption key in the ring".into()));
    };
    let current_i64 = i64::from(current);

    // Keyset pages by account id, so a key that cannot be opened (or was
    // re-keyed under us) is passed over once instead of being read again
    // for ever: the pass ends after one walk over the table.
    let mut after = String::new();
    loop {
        let rows = stale_batch(conn, current_i64, &after)?;
        let Some(last) = rows.last() else { break };
        after = last.account_id.clone();
        rewrap_batch(conn, &snapshot, &rows, &mut report)?;
    }
    if report.unopenable > 0 {
        tracing::error!(
            keys = report.unopenable,
            "data keys wrapped under a missing key-encryption key: their data cannot be read"
        );
    }
    if report.raced > 0 {
        tracing::info!(
            keys = report.raced,
            "data keys replaced while being re-wrapped: left for the next pass"
        );
    }

    // A KEK is retired when its successor is created.
    let ids = snapshot.ids();
    for pair in ids.windows(2) {
        let ((old, _), (_, successor_created)) = (pair[0], pair[1]);
        let retired_for = now.timestamp().saturating_sub(successor_created);
        if retired_for < shredding::RETIRED_GRACE.num_seconds() {
            continue;
        }
        let still_used: i64 = account_keys::table
            .filter(account_keys::kek_id.eq(i64::from(old)))
            .count()
            .get_result(conn)?;
        if still_used == 0 {
            snapshot.destroy(old)?;
            report.destroyed.push(old);
        }
    }
    if !report.destroyed.is_empty() {
        ring.reload()?;
    }
    Ok(report)
}

/// How many accounts have a data key (each one's data key is one row).
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(account_keys::table.count().get_result(conn)?)
}

/// The next [`shredding::REWRAP_BATCH`] data keys not wrapped under the
/// KEK `current`, in account id order after `after`. Read outside the
/// transaction that re-wraps them, so by then any of them may have
/// changed: see [`rewrap_batch`].
pub(crate) fn stale_batch(
    conn: &mut DbConn,
    current: i64,
    after: &str,
) -> Result<Vec<AccountKeyRow>, StoreError> {
    account_keys::table
        .filter(account_keys::kek_id.ne(current))
        .filter(account_keys::account_id.gt(after))
        .order(account_keys::account_id.asc())
        .limit(shredding::REWRAP_BATCH)
        .select(AccountKeyRow::as_select())
        .load(conn)
        .map_err(StoreError::from)
}

/// Re-wraps each of `rows` (as read by [`stale_batch`]) under the current
/// KEK of `snapshot`, in one transaction, and counts what happened in
/// `report`.
///
/// Each update is a compare-and-swap on the wrapped bytes that were read:
/// a row that changed since (a [`rekey`] by a process whose ring still
/// had the old KEK as current, which wrapped a *new* data key under it)
/// is left alone and counted in [`Rotation::raced`]. Writing the old data
/// key back over it would make everything that rekey re-sealed, all of
/// the account's sealed data, unreadable. A later pass finds the row
/// still under an old KEK and re-wraps it then; until then the old KEK is
/// still in use and so is not destroyed.
pub(crate) fn rewrap_batch(
    conn: &mut DbConn,
    snapshot: &KekRing,
    rows: &[AccountKeyRow],
    report: &mut Rotation,
) -> Result<(), StoreError> {
    crate::conn::transaction_on(conn, |conn| {
        for row in rows {
            let Some(key) = snapshot.unwrap_key(&row.account_id, &row.wrapped) else {
                report.unopenable += 1;
                continue;
            };
            let Some((kek, wrapped)) = snapshot.wrap(&row.account_id, &key) else {
                continue;
            };
            let changed = diesel::update(
                account_keys::table
                    .filter(account_keys::account_id.eq(&row.account_id))
                    .filter(account_keys::kek_id.eq(row.kek_id))
                    .filter(account_keys::wrapped.eq(&row.wrapped)),
            )
            .set((
                account_keys::kek_id.eq(i64::from(kek)),
                account_keys::wrapped.eq(&wrapped),
            ))
            .execute(conn)?;
            if changed == 0 {
                // Changed since it was read. Deleted with its account, or
                // re-wrapped under the current KEK by another instance's
                // pass: nothing left to do. Re-keyed under an older KEK:
                // the next pass re-wraps it.
                let now_under: Option<i64> = account_keys::table
                    .find(&row.account_id)
                    .select(account_keys::kek_id)
                    .first(conn)
                    .optional()?;
                if now_under.is_some_and(|k| k != i64::from(kek)) {
                    report.raced += 1;
                }
            }
            report.rewrapped += changed;
        }
        Ok(())
    })
}

/// Gives the account a new data key: every sealed value it has is opened
/// with the old key and sealed again under the new one (a value the old
/// key does not open is left as it is, and logged as a count), and the new key
/// replaces the old in `account_keys` (call inside a transaction). Used
/// after an edit or deletion of part of an account's data: the removed
/// values' old bytes may linger in PostgreSQL pages and the WAL, sealed
/// under the old key, whose wrapped copy is unreadable once the KEK it
/// was wrapped under is destroyed, as for a deleted account. Returns the
/// new key, or `None` if the account had none. An error outside a
/// transaction (the lock it takes first would not be held).
pub fn rekey(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
    now: DateTime<Utc>,
) -> Result<Option<DataKey>, StoreError> {
    use crate::schema::{feedback, questionnaire_responses, registration_values};
    // Lock the account's key row before reading anything: a second rekey
    // of the account at once (two tabs), or a sealed write
    // ([`for_writing`]), waits there until this one commits and then reads
    // the new key, and a sealed write committed before it is re-sealed
    // below, so no value is left under a key that is no longer the
    // account's.
    lock_key(conn, account)?;
    let Some(old) = for_reading(conn, ring, account)? else {
        return Ok(None);
    };
    let new = DataKey::generate();
    // A value that does not open under the account's own key was altered
    // (or sealed under a key that is gone): no key opens it, before this
    // rekey or after. It is left as it is and counted, not deleted (that
    // would be a deletion nobody asked for) and not allowed to stop the
    // rekey, which would keep the user from editing or deleting anything
    // else and the hourly purge from removing anyone's handled feedback.
    let mut unopenable = 0usize;
    let mut reseal = |purpose: &'static str, row_id: &str, sealed: &[u8]| {
        let again = old
            .open(purpose, row_id, sealed)
            .map(|clear| new.seal(purpose, row_id, &clear));
        unopenable += usize::from(again.is_none());
        again
    };
    let rows: Vec<(String, Option<Vec<u8>>)> = feedback::table
        .filter(feedback::account_id.eq(account.as_str()))
        .filter(feedback::body_sealed.is_not_null())
        .select((feedback::id, feedback::body_sealed))
        .load(conn)?;
    for (id, sealed) in rows {
        let Some(sealed) = sealed else { continue };
        let Some(again) = reseal(FEEDBACK_BODY, &id, &sealed) else {
            continue;
        };
        diesel::update(feedback::table.filter(feedback::id.eq(&id)))
            .set(feedback::body_sealed.eq(Some(again)))
            .execute(conn)?;
    }
    let rows: Vec<(String, String, Option<Vec<u8>>)> = registration_values::table
        .filter(registration_values::account_id.eq(account.as_str()))
        .filter(registration_values::text_sealed.is_not_null())
        .select((
            registration_values::entry_id,
            registration_values::field_id,
            registration_values::text_sealed,
        ))
        .load(conn)?;
    for (entry, field, sealed) in rows {
        let Some(sealed) = sealed else { continue };
        let row_id = note_row_id(&entry, &field);
        let Some(again) = reseal(REGISTRATION_NOTE, &row_id, &sealed) else {
            continue;
        };
        diesel::update(
            registration_values::table
                .filter(registration_values::entry_id.eq(&entry))
                .filter(registration_values::field_id.eq(&field))
                .filter(registration_values::text_sealed.is_not_null()),
        )
        .set(registration_values::text_sealed.eq(Some(again)))
        .execute(conn)?;
    }
    let rows: Vec<(String, Option<Vec<u8>>)> = questionnaire_responses::table
        .filter(questionnaire_responses::account_id.eq(account.as_str()))
        .filter(questionnaire_responses::answers_sealed.is_not_null())
        .select((
            questionnaire_responses::id,
            questionnaire_responses::answers_sealed,
        ))
        .load(conn)?;
    for (id, sealed) in rows {
        let Some(sealed) = sealed else { continue };
        let Some(again) = reseal(RESPONSE_ANSWERS, &id, &sealed) else {
            continue;
        };
        diesel::update(questionnaire_responses::table.find(&id))
            .set(questionnaire_responses::answers_sealed.eq(Some(again)))
            .execute(conn)?;
    }
    if unopenable > 0 {
        tracing::error!(
            values = unopenable,
            "a rekey left values that do not open under their account's data key as they are"
        );
    }
    let (kek, wrapped) = ring
        .snapshot()?
        .wrap(account.as_str(), &new)
        .ok_or_else(|| StoreError::Keys("no key-encryption key in the ring".into()))?;
    diesel::update(account_keys::table.find(account.as_str()))
        .set((
            account_keys::kek_id.eq(i64::from(kek)),
            account_keys::wrapped.eq(&wrapped),
            account_keys::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(Some(new))
}

/// Runs `read` (which loads sealed values and the key that opens them, in
/// separate statements) again when a value does not open: a rekey of the
/// account may have committed between its statements, so the values and
/// the key came from different moments. A rekey re-seals every value and
/// replaces the key in one transaction, so a second read sees both from
/// after it. A value that still does not open on the third read is an
/// error (its key is gone or the bytes were altered).
pub(crate) fn read_consistently<T>(
    conn: &mut DbConn,
    mut read: impl FnMut(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    for _ in 0..2 {
        match read(conn) {
            Err(StoreError::Sealed(_)) => continue,
            other => return other,
        }
    }
    read(conn)
}
