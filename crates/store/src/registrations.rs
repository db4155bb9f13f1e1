//! Registrations: entries of a registration form, one row per entry and
//! one row per answered field (or chosen category), so they can be summed
//! up and shared without parsing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, SharedKekRing};
use mestring_domain::content::{CategoryId, Entry, FieldId, FieldValue};
use mestring_domain::id::Id;

use crate::account_keys;
use crate::schema::{registration_entries, registration_values};
use crate::stored_id::StoredId;
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// One saved registration.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registration_entries)]
pub struct RegistrationRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// The form, e.g. `daily-checkin`.
    pub registration_id: String,
    /// The form's version when filled in.
    pub form_version: i64,
    /// The program, when saved as part of a step.
    pub program_slug: Option<String>,
    /// The step, when saved as part of a step.
    pub step_id: Option<String>,
    /// When the entry was saved.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the user last edited the entry, if they have.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub edited_at: Option<DateTime<Utc>>,
}

/// One stored value of an entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registration_values)]
pub struct RegistrationValueRow {
    /// The entry.
    #[diesel(deserialize_as = StoredId)]
    pub entry_id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// The field.
    pub field_id: String,
    /// `scale`, `choice`, `multi_choice`, `rated` or `note`.
    pub kind: String,
    /// The category for choice fields; empty otherwise.
    pub category_id: String,
    /// The number for scales and ratings.
    pub num_value: Option<i64>,
    /// The text of a note: an older version's clear column, or (after
    /// loading) the opened `text_sealed`.
    pub text_value: Option<String>,
    text_sealed: Option<Vec<u8>>,
}

use account_keys::{REGISTRATION_NOTE as SEALED_NOTE, note_row_id};

/// Opens the sealed notes among `rows` with the account's key.
fn open_notes(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    account: &Id,
    rows: &mut [RegistrationValueRow],
) -> Result<(), StoreError> {
    if rows.iter().all(|r| r.text_sealed.is_none()) {
        return Ok(());
    }
    let key = account_keys::for_reading(conn, ring, account)?;
    for r in rows {
        if let Some(sealed) = r.text_sealed.take() {
            let id = note_row_id(r.entry_id.as_str(), &r.field_id);
            r.text_value = Some(account_keys::open_text(
                key.as_ref(),
                SEALED_NOTE,
                &id,
                &sealed,
            )?);
        }
    }
    Ok(())
}

/// What a new entry needs.
#[derive(Debug)]
pub struct NewRegistration<'a> {
    /// The account.
    pub account: &'a Id,
    /// The form.
    pub registration_id: &'a str,
    /// Its version.
    pub form_version: u32,
    /// Program and step, when saved as part of a step.
    pub step: Option<(&'a str, &'a str)>,
    /// The checked entry.
    pub entry: &'a Entry,
}

/// The rows one field value is stored as: (kind, category, number, text).
fn value_rows(value: &FieldValue) -> Vec<(&'static str, String, Option<i64>, Option<String>)> {
    match value {
        FieldValue::Scale(v) => vec![("scale", String::new(), Some(i64::from(*v)), None)],
        FieldValue::Choice(c) => vec![("choice", c.to_string(), None, None)],
        FieldValue::MultiChoice(cs) => cs
            .iter()
            .map(|c| ("multi_choice", c.to_string(), None, None))
            .collect(),
        FieldValue::Rated(rs) => rs
            .iter()
            .map(|(c, v)| ("rated", c.to_string(), Some(i64::from(*v)), None))
            .collect(),
        FieldValue::Note(t) => vec![("note", String::new(), None, Some(t.clone()))],
    }
}

impl RegistrationRow {
    /// Stores an entry and its values (notes sealed under `key`, the
    /// account's data key); returns its id. Call inside a transaction.
    pub fn insert(
        conn: &mut DbConn,
        key: &DataKey,
        new: &NewRegistration<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(registration_entries::table)
            .values((
                registration_entries::id.eq(id.as_str()),
                registration_entries::account_id.eq(new.account.as_str()),
                registration_entries::registration_id.eq(new.registration_id),
                registration_entries::form_version.eq(i64::from(new.form_version)),
                registration_entries::program_slug.eq(new.step.map(|s| s.0)),
                registration_entries::step_id.eq(new.step.map(|s| s.1)),
                registration_entries::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        insert_values(conn, key, new.account, id.as_str(), new.entry)?;
        Ok(id)
    }

    /// Replaces the values of one of the account's entries with `entry`
    /// (call inside a transaction) and records when. The old value rows
    /// are deleted, so with `secure_delete` on SQLite their text is
    /// overwritten in the file (the caller checkpoints the WAL afterwards),
    /// and the account gets a new data key (`account_keys::rekey`), so on
    /// PostgreSQL the old rows' bytes stop opening once the key-encryption
    /// keys rotate. `NotFound` for anyone else's id.
    pub fn replace_for_account(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
        id: &str,
        entry: &Entry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The entry's row first: a write takes its lock, so a second edit
        // of the same entry at once (two tabs, a double click) waits here
        // until this one commits, then replaces what this one wrote,
        // instead of inserting beside it.
        let n = diesel::update(
            registration_entries::table
                .filter(registration_entries::id.eq(id))
                .filter(registration_entries::account_id.eq(account.as_str())),
        )
        .set(registration_entries::edited_at.eq(Some(to_db(now))))
        .execute(conn)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        delete_values(conn, account, id)?;
        let key = match account_keys::rekey(conn, ring, account, now)? {
            Some(key) => key,
            None => account_keys::for_writing(conn, ring, account, now)?,
        };
        insert_values(conn, &key, account, id, entry)?;
        Ok(())
    }

    /// One of the account's entries with its values rebuilt.
    pub fn find_with_values(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
        id: &str,
    ) -> Result<(Self, Entry), StoreError> {
        account_keys::read_consistently(conn, |conn| {
            let row = Self::find_for_account(conn, account, id)?;
            let mut values: Vec<RegistrationValueRow> = registration_values::table
                .filter(registration_values::entry_id.eq(id))
                .filter(registration_values::account_id.eq(account.as_str()))
                .select(RegistrationValueRow::as_select())
                .load(conn)?;
            open_notes(conn, ring, account, &mut values)?;
            let refs: Vec<&RegistrationValueRow> = values.iter().collect();
            let entry = rebuild(&refs)?;
            Ok((row, entry))
        })
    }

    /// One of the account's entries; `NotFound` for anyone else's id.
    pub fn find_for_account(conn: &mut DbConn, account: &Id, id: &str) -> Result<Self, StoreError> {
        registration_entries::table
            .filter(registration_entries::id.eq(id))
            .filter(registration_entries::account_id.eq(account.as_str()))
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Deletes one of the account's entries and its values (call inside a
    /// transaction). With `secure_delete` on SQLite the text is overwritten
    /// in the file (the caller checkpoints the WAL afterwards); the account
    /// gets a new data key, as in [`Self::replace_for_account`].
    pub fn delete_for_account(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Self::find_for_account(conn, account, id)?;
        delete_values(conn, account, id)?;
        account_keys::rekey(conn, ring, account, now)?;
        diesel::delete(
            registration_entries::table
                .filter(registration_entries::id.eq(id))
                .filter(registration_entries::account_id.eq(account.as_str())),
        )
        .execute(conn)?;
        Ok(())
    }

    /// Every entry of the account, oldest first.
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        registration_entries::table
            .filter(registration_entries::account_id.eq(account.as_str()))
            .order((
                registration_entries::created_at.asc(),
                registration_entries::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Every entry of the account with its values rebuilt, oldest first.
    pub fn list_with_values(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
    ) -> Result<Vec<(Self, Entry)>, StoreError> {
        account_keys::read_consistently(conn, |conn| Self::read_with_values(conn, ring, account))
    }

    fn read_with_values(
        conn: &mut DbConn,
        ring: &SharedKekRing,
        account: &Id,
    ) -> Result<Vec<(Self, Entry)>, StoreError> {
        let entries = Self::list_for_account(conn, account)?;
        let mut values: Vec<RegistrationValueRow> = registration_values::table
            .filter(registration_values::account_id.eq(account.as_str()))
            .select(RegistrationValueRow::as_select())
            .load(conn)?;
        open_notes(conn, ring, account, &mut values)?;
        let mut by_entry: BTreeMap<&str, Vec<&RegistrationValueRow>> = BTreeMap::new();
        for v in &values {
            by_entry.entry(v.entry_id.as_str()).or_default().push(v);
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let rows = by_entry.remove(e.id.as_str()).unwrap_or_default();
            let entry = rebuild(&rows)?;
            out.push((e, entry));
        }
        Ok(out)
    }
}

/// Deletes the value rows of one of the account's entries.
fn delete_values(conn: &mut DbConn, account: &Id, entry_id: &str) -> Result<(), StoreError> {
    diesel::delete(
        registration_values::table
            .filter(registration_values::entry_id.eq(entry_id))
            .filter(registration_values::account_id.eq(account.as_str())),
    )
    .execute(conn)?;
    Ok(())
}

/// Stores the value rows of one entry; notes only sealed.
fn insert_values(
    conn: &mut DbConn,
    key: &DataKey,
    account: &Id,
    entry_id: &str,
    entry: &Entry,
) -> Result<(), StoreError> {
    for (field, value) in entry {
        for (kind, category, num, text) in value_rows(value) {
            let sealed = text.map(|t| {
                key.seal(
                    SEALED_NOTE,
                    &note_row_id(entry_id, field.as_str()),
                    t.as_bytes(),
                )
            });
            diesel::insert_into(registration_values::table)
                .values((
                    registration_values::entry_id.eq(entry_id),
                    registration_values::account_id.eq(account.as_str()),
                    registration_values::field_id.eq(field.as_str()),
                    registration_values::kind.eq(kind),
                    registration_values::category_id.eq(category),
                    registration_values::num_value.eq(num),
                    registration_values::text_value.eq(None::<String>),
                    registration_values::text_sealed.eq(sealed),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Seals the notes an older version stored in clear (`text_value`
/// without `text_sealed`) and empties the clear column; returns how many
/// it sealed. Run by `mestring migrate` and at start.
pub fn seal_legacy(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows: Vec<(String, String, String, String)> = registration_values::table
        .filter(registration_values::text_sealed.is_null())
        .filter(registration_values::text_value.is_not_null())
        .select((
            registration_values::entry_id,
            registration_values::account_id,
            registration_values::field_id,
            registration_values::text_value.assume_not_null(),
        ))
        .load(conn)?;
    for (entry, account, field, text) in &rows {
        let key = account_keys::for_writing(conn, ring, &Id::from_trusted(account.clone()), now)?;
        let sealed = key.seal(SEALED_NOTE, &note_row_id(entry, field), text.as_bytes());
        diesel::update(
            registration_values::table
                .filter(registration_values::entry_id.eq(entry))
                .filter(registration_values::field_id.eq(field))
                .filter(registration_values::kind.eq("note")),
        )
        .set((
            registration_values::text_value.eq(None::<String>),
            registration_values::text_sealed.eq(Some(sealed)),
        ))
        .execute(conn)?;
    }
    Ok(rows.len())
}

/// Turns stored value rows back into an entry.
fn rebuild(rows: &[&RegistrationValueRow]) -> Result<Entry, StoreError> {
    let corrupt = || StoreError::Corrupt("registration_values");
    let mut entry = Entry::new();
    for r in rows {
        let field = FieldId::new(r.field_id.clone());
        let category = CategoryId::new(r.category_id.clone());
        let number = || {
            r.num_value
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(corrupt)
        };
        match r.kind.as_str() {
            "scale" => {
                entry.insert(field, FieldValue::Scale(number()?));
            }
            "choice" => {
                entry.insert(field, FieldValue::Choice(category));
            }
            "multi_choice" => {
                let slot = entry
                    .entry(field)
                    .or_insert_with(|| FieldValue::MultiChoice(BTreeSet::new()));
                match slot {
                    FieldValue::MultiChoice(set) => {
                        set.insert(category);
                    }
                    _ => return Err(corrupt()),
                }
            }
            "rated" => {
                let n = number()?;
                let slot = entry
                    .entry(field)
                    .or_insert_with(|| FieldValue::Rated(BTreeMap::new()));
                match slot {
                    FieldValue::Rated(map) => {
                        map.insert(category, n);
                    }
                    _ => return Err(corrupt()),
                }
            }
            "note" => {
                entry.insert(
                    field,
                    FieldValue::Note(r.text_value.clone().ok_or_else(corrupt)?),
                );
            }
            _ => return Err(corrupt()),
        }
    }
    Ok(entry)
}
