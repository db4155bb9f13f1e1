//! Questionnaire responses: the answers per item, the score (total, band)
//! and the flags raised, stored together so a clinician view can show them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_crypto::shred::{DataKey, SharedKekRing};
use mestring_domain::content::{FlagId, ItemId, OptionValue};
use mestring_domain::id::Id;

use crate::account_keys;
use crate::schema::{questionnaire_answers, questionnaire_responses};

use account_keys::{RESPONSE_ANSWERS as SEALED_ANSWERS, SealedAnswer};

/// The sealed form of a response's answers: JSON `[[item, value, weight], ...]`.
pub(crate) fn seal_answers(key: &DataKey, response: &str, answers: &[SealedAnswer]) -> Vec<u8> {
    // Serialising strings and integers cannot fail.
    let json = serde_json::to_vec(answers).unwrap_or_default();
    key.seal(SEALED_ANSWERS, response, &json)
}
use crate::stored_id::StoredId;
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// One submitted questionnaire with its score.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = questionnaire_responses)]
pub struct ResponseRow {
    /// Random id (used in result URLs; always checked against the account).
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// Which questionnaire, e.g. `phq9`.
    pub questionnaire_id: String,
    /// The questionnaire's version when answered.
    pub questionnaire_version: i64,
    /// The program, when answered as a program step.
    pub program_slug: Option<String>,
    /// The step, when answered as a program step.
    pub step_id: Option<String>,
    /// The total score.
    pub total: i64,
    /// The band the total fell in.
    pub band_id: String,
    flags: String,
    /// Whether the total was prorated.
    pub prorated: bool,
    /// When the questionnaire was submitted.
    #[diesel(deserialize_as = StoredTime)]
    pub completed_at: DateTime<Utc>,
    /// When the user voided this response, if they did. A voided response
    /// counts in no result, chart, change or staff view.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub voided_at: Option<DateTime<Utc>>,
}

/// One stored answer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = questionnaire_answers)]
pub struct AnswerRow {
    /// The response it belongs to.
    #[diesel(deserialize_as = StoredId)]
    pub response_id: Id,
    /// The account.
    #[diesel(deserialize_as = StoredId)]
    pub account_id: Id,
    /// The item, e.g. `phq9-9`.
    pub item_id: String,
    /// The chosen option's value.
    pub option_value: i64,
    /// The chosen option's weight (what it added to the total).
    pub weight: i64,
}

/// What a new response needs.
#[derive(Debug)]
pub struct NewResponse<'a> {
    /// The account.
    pub account: &'a Id,
    /// Which questionnaire.
    pub questionnaire_id: &'a str,
    /// Its version.
    pub questionnaire_version: u32,
    /// Program and step, when answered as a step.
    pub step: Option<(&'a str, &'a str)>,
    /// Total score.
    pub total: u32,
    /// Band id.
    pub band_id: &'a str,
    /// Flags raised.
    pub flags: &'a [FlagId],
    /// Whether the total was prorated.
    pub prorated: bool,
    /// Answers: item, option value, weight.
    pub answers: &'a [(ItemId, OptionValue, u32)],
}

impl ResponseRow {
    /// The flags raised by the answers (e.g. `suicidal-ideation`).
    pub fn flags(&self) -> Vec<FlagId> {
        self.flags.split_whitespace().map(FlagId::new).collect()
    }

    /// Whether flag `id` was raised.
    pub fn has_flag(&self, id: &str) -> bool {
        self.flags.split_whitespace().any(|f| f == id)
    }

    /// The total as a `u32` (stored totals are never negative).
    pub fn total_u32(&self) -> u32 {
        u32::try_from(self.total).unwrap_or(0)
    }

    /// Stores a response and its answers in one go; returns its id. The
    /// item answers are sealed under `key` (the account's data key); the
    /// score stays clear (docs/deletion.md says why). Call inside a
    /// transaction.
    pub fn insert(
        conn: &mut DbConn,
        key: &DataKey,
        new: &NewResponse<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        let flags = new
            .flags
            .iter()
            .map(FlagId::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let answers: Vec<SealedAnswer> = new
            .answers
            .iter()
            .map(|(item, value, weight)| {
                (
                    item.as_str().to_owned(),
                    i64::from(value.0),
                    i64::from(*weight),
                )
            })
            .collect();
        let sealed = seal_answers(key, id.as_str(), &answers);
        diesel::insert_into(questionnaire_responses::table)
            .values((
                questionnaire_responses::id.eq(id.as_str()),
                questionnaire_responses::account_id.eq(new.account.as_str()),
                questionnaire_responses::questionnaire_id.eq(new.questionnaire_id),
                questionnaire_responses::questionnaire_version
                    .eq(i64::from(new.questionnaire_version)),
                questionnaire_responses::program_slug.eq(new.step.map(|s| s.0)),
                questionnaire_responses::step_id.eq(new.step.map(|s| s.1)),
                questionnaire_responses::total.eq(i64::from(new.total)),
                questionnaire_responses::band_id.eq(new.band_id),
                questionnaire_responses::flags.eq(&flags),
                questionnaire_responses::prorated.eq(new.prorated),
                questionnaire_responses::completed_at.eq(to_db(now)),
                questionnaire_responses::answers_sealed.eq(Some(sealed)),
            ))
            .execute(conn)?;
        crate::overview::add_to_measure(
            conn,
            new.account.as_str(),
            new.questionnaire_id,
            (i64::from(new.total), new.band_id, &flags),
            now,
        )?;
        Ok(id)
    }

    /// The response `id` if it belongs to `account`; `NotFound` otherwise
    /// (another account's id looks exactly like a missing one).
    pub fn find_for_account(conn: &mut DbConn, account: &Id, id: &str) -> Result<Self, StoreError> {
        questionnaire_responses::table
            .filter(questionnaire_responses::id.eq(id))
            .filter(questionnaire_responses::account_id.eq(account.as_str()))
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Voids the account's response `id`. Cannot be undone; voiding a
    /// voided response changes nothing. `NotFound` for an id that is not
    /// one of the account's responses.
    pub fn void(
        conn: &mut DbConn,
        account: &Id,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = Self::find_for_account(conn, account, id)?;
        diesel::update(
            questionnaire_responses::table
                .filter(questionnaire_responses::id.eq(id))
                .filter(questionnaire_responses::account_id.eq(account.as_str()))
                .filter(questionnaire_responses::voided_at.is_null()),
        )
        .set(questionnaire_responses::voided_at.eq(Some(to_db(now))))
        .execute(conn)?;
        crate::overview::refresh_measure(conn, account.as_str(), &row.questionnaire_id)
    }

    /// The account's voided responses, oldest first.
    pub fn list_voided(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        questionnaire_responses::table
            .filter(questionnaire_responses::account_id.eq(account.as_str()))
            .filter(questionnaire_responses::voided_at.is_not_null())
            .order((
                questionnaire_responses::completed_at.asc(),
                questionnaire_responses::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Every response of the account that was not voided, oldest first:
    /// what results, charts, change and the staff view count.
    pub fn list_for_account(conn: &mut DbConn, account: &Id) -> Result<Vec<Self>, StoreError> {
        questionnaire_responses::table
            .filter(questionnaire_responses::account_id.eq(account.as_str()))
            .filter(questionnaire_responses::voided_at.is_null())
            .order((
                questionnaire_responses::completed_at.asc(),
                questionnaire_responses::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// The account's responses to one questionnaire that were not voided,
    /// oldest first.
    pub fn list_for_questionnaire(
        conn: &mut DbConn,
        account: &Id,
        questionnaire: &str,
    ) -> Result<Vec<Self>, StoreError> {
        questionnaire_responses::table
            .filter(questionnaire_responses::account_id.eq(account.as_str()))
            .filter(questionnaire_responses::questionnaire_id.eq(questionnaire))
            .filter(questionnaire_responses::voided_at.is_null())
            .order((
                questionnaire_responses::completed_at.asc(),
                questionnaire_responses::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// The answers of this response, in item order as stored: opened
    /// from the sealed form, or read from an older version's rows.
    pub fn answers(
        &self,
        conn: &mut DbConn,
        ring: &SharedKekRing,
    ) -> Result<Vec<AnswerRow>, StoreError> {
        account_keys::read_consistently(conn, |conn| self.read_answers(conn, ring))
    }

    fn read_answers(
        &self,
        conn: &mut DbConn,
        ring: &SharedKekRing,
    ) -> Result<Vec<AnswerRow>, StoreError> {
        let sealed: Option<Vec<u8>> = questionnaire_responses::table
            .find(self.id.as_str())
            .select(questionnaire_responses::answers_sealed)
            .first(conn)?;
        let Some(sealed) = sealed else {
            return questionnaire_answers::table
                .filter(questionnaire_answers::response_id.eq(self.id.as_str()))
                .filter(questionnaire_answers::account_id.eq(self.account_id.as_str()))
                .select(AnswerRow::as_select())
                .load(conn)
                .map_err(StoreError::from);
        };
        let key = account_keys::for_reading(conn, ring, &self.account_id)?;
        let json = key
            .and_then(|k| k.open(SEALED_ANSWERS, self.id.as_str(), &sealed))
            .ok_or(StoreError::Sealed(SEALED_ANSWERS))?;
        let items: Vec<SealedAnswer> =
            serde_json::from_slice(&json).map_err(|_| StoreError::Corrupt(SEALED_ANSWERS))?;
        Ok(items
            .into_iter()
            .map(|(item_id, option_value, weight)| AnswerRow {
                response_id: self.id.clone(),
                account_id: self.account_id.clone(),
                item_id,
                option_value,
                weight,
            })
            .collect())
    }
}

/// Seals the item answers an older version stored as clear rows in
/// `questionnaire_answers` into their response and deletes the rows;
/// returns how many responses it sealed. Run by `mestring migrate` and at
/// start.
pub fn seal_legacy(
    conn: &mut DbConn,
    ring: &SharedKekRing,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows: Vec<AnswerRow> = questionnaire_answers::table
        .order(questionnaire_answers::response_id.asc())
        .select(AnswerRow::as_select())
        .load(conn)?;
    let mut by_response: std::collections::BTreeMap<(&str, &str), Vec<SealedAnswer>> =
        std::collections::BTreeMap::new();
    for r in &rows {
        by_response
            .entry((r.response_id.as_str(), r.account_id.as_str()))
            .or_default()
            .push((r.item_id.clone(), r.option_value, r.weight));
    }
    for ((response, account), answers) in &by_response {
        let key =
            account_keys::for_writing(conn, ring, &Id::from_trusted((*account).to_owned()), now)?;
        let sealed = seal_answers(&key, response, answers);
        diesel::update(questionnaire_responses::table.find(*response))
            .set(questionnaire_responses::answers_sealed.eq(Some(sealed)))
            .execute(conn)?;
        diesel::delete(
            questionnaire_answers::table.filter(questionnaire_answers::response_id.eq(*response)),
        )
        .execute(conn)?;
    }
    Ok(by_response.len())
}
