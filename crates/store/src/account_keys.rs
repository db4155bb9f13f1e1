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

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, SharedKekRing};
use mestring_domain::id::Id;
use mestring_domain::policy::shredding;

use crate::schema::account_keys;
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
struct AccountKeyRow {
    account_id: String,
    kek_id: i64,
    wrapped: Vec<u8>,
    #[allow(dead_code)] // read so the row type matches the table
    created_at: NaiveDateTime,
}

fn open_row(ring: &SharedKekRing, row: &AccountKeyRow) -> Result<DataKey, StoreError> {
    ring.unwrap_key(&row.account_id, &row.wrapped)?
        .ok_or(StoreError::Sealed("account_keys.wrapped"))
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

/// The account's data key, created and stored (wrapped under the current
/// KEK) if it has none yet.
pub fn for_writing(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
    now: DateTime<Utc>,
) -> Result<DataKey, StoreError> {
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
    // PostgreSQL; the loser then uses the winner's key.
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
            for_reading(conn, ring, account)?.ok_or(StoreError::Sealed("account_keys.wrapped"))
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
    /// Retired KEKs destroyed by this pass.
    pub destroyed: Vec<u32>,
}

/// One rotation pass (idempotent; safe on every instance at once):
/// 1. if the current KEK has been current for
///    [`shredding::ROTATE_EVERY`] (or `force`), a new one takes over;
/// 2. every data key still wrapped under an older KEK is re-wrapped
///    under the current one, [`shredding::REWRAP_BATCH`] per transaction;
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

    // Keyset pages by account id, so a key that cannot be opened is
    // passed over once instead of being read again for ever.
    let mut after = String::new();
    loop {
        let rows: Vec<AccountKeyRow> = account_keys::table
            .filter(account_keys::kek_id.ne(current_i64))
            .filter(account_keys::account_id.gt(&after))
            .order(account_keys::account_id.asc())
            .limit(shredding::REWRAP_BATCH)
            .select(AccountKeyRow::as_select())
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = last.account_id.clone();
        crate::conn::transaction_on(conn, |conn| {
            for row in &rows {
                let Some(key) = snapshot.unwrap_key(&row.account_id, &row.wrapped) else {
                    report.unopenable += 1;
                    continue;
                };
                let Some((kek, wrapped)) = snapshot.wrap(&row.account_id, &key) else {
                    continue;
                };
                // Only if nobody re-wrapped it meanwhile.
                report.rewrapped += diesel::update(
                    account_keys::table
                        .filter(account_keys::account_id.eq(&row.account_id))
                        .filter(account_keys::kek_id.eq(row.kek_id)),
                )
                .set((
                    account_keys::kek_id.eq(i64::from(kek)),
                    account_keys::wrapped.eq(&wrapped),
                ))
                .execute(conn)?;
            }
            Ok(())
        })?;
    }
    if report.unopenable > 0 {
        tracing::error!(
            keys = report.unopenable,
            "data keys wrapped under a missing key-encryption key: their data cannot be read"
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

/// Gives the account a new data key: every sealed value it has is opened
/// with the old key and sealed again under the new one, and the new key
/// replaces the old in `account_keys` (call inside a transaction). Used
/// after an edit or deletion of part of an account's data: the removed
/// values' old bytes may linger in PostgreSQL pages and the WAL, sealed
/// under the old key, whose wrapped copy is unreadable once the KEK it
/// was wrapped under is destroyed, as for a deleted account. Returns the
/// new key, or `None` if the account had none.
pub fn rekey(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
    now: DateTime<Utc>,
) -> Result<Option<DataKey>, StoreError> {
    use crate::schema_program::{feedback, questionnaire_responses, registration_values};
    // Lock the account's key row before reading anything: a second rekey
    // of the account at once (two tabs) waits here until this one commits
    // and then re-seals what this one sealed, so no value is left under a
    // key that is no longer the account's. (SQLite's writers are already
    // one at a time.)
    let locked = diesel::update(account_keys::table.find(account.as_str()))
        .set(account_keys::kek_id.eq(account_keys::kek_id))
        .execute(conn)?;
    if locked == 0 {
        return Ok(None);
    }
    let Some(old) = for_reading(conn, ring, account)? else {
        return Ok(None);
    };
    let new = DataKey::generate();
    let reseal = |purpose: &'static str, row_id: &str, sealed: &[u8]| {
        old.open(purpose, row_id, sealed)
            .map(|clear| new.seal(purpose, row_id, &clear))
            .ok_or(StoreError::Sealed(purpose))
    };
    let rows: Vec<(String, Option<Vec<u8>>)> = feedback::table
        .filter(feedback::account_id.eq(account.as_str()))
        .filter(feedback::body_sealed.is_not_null())
        .select((feedback::id, feedback::body_sealed))
        .load(conn)?;
    for (id, sealed) in rows {
        let Some(sealed) = sealed else { continue };
        let again = reseal(FEEDBACK_BODY, &id, &sealed)?;
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
        let again = reseal(REGISTRATION_NOTE, &row_id, &sealed)?;
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
        let again = reseal(RESPONSE_ANSWERS, &id, &sealed)?;
        diesel::update(questionnaire_responses::table.find(&id))
            .set(questionnaire_responses::answers_sealed.eq(Some(again)))
            .execute(conn)?;
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
