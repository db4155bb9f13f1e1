//! Private purchases (docs/payments.md): one row per Stripe Checkout
//! Session, and the Stripe event ids already handled.
//!
//! Invariant: nothing here names an account and no account row names a
//! purchase. The code is minted when its buyer first sees it
//! ([`PurchaseRow::claim`]), into an account created at the start of the
//! same UTC day, so neither a column nor a time of day pairs the two.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use mestring_domain::access_code::CodeHash;
use mestring_domain::id::Id;

use crate::accounts::{AccountRow, NewAccount};
use crate::schema::{purchases, stripe_events};
use crate::stored_id::StoredId;
use crate::{DbConn, StoreError};

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum PurchaseStatus {
    /// Checkout started; not paid (yet).
    Open,
    /// Stripe says paid.
    Paid,
    /// The Checkout Session expired or was abandoned unpaid.
    Expired,
    /// Paid, then refunded by the operator.
    Refunded,
}

impl PurchaseStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }

    /// Reads a stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "paid" => Self::Paid,
            "expired" => Self::Expired,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

text_column!(PurchaseStatus, "purchases.status");

/// Where the receipt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum ReceiptState {
    /// The buyer asked for none; no address was ever stored.
    None,
    /// The sealed address waits for the receipt to be sent.
    Pending,
    /// Sent; the address is gone.
    Sent,
    /// Not sent (unsendable for too long, or the checkout was abandoned);
    /// the address is gone.
    Erased,
}

impl ReceiptState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Erased => "erased",
        }
    }

    /// Reads a stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "erased" => Self::Erased,
            _ => return None,
        })
    }
}

text_column!(ReceiptState, "purchases.receipt");

/// A purchase row. `Debug` leaves out the sealed address and claim hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = purchases)]
pub struct PurchaseRow {
    /// Random id (what `mestring purchases refund` takes).
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// Stripe's Checkout Session id.
    pub stripe_session: String,
    /// The program bought.
    pub program_slug: String,
    /// Amount paid, in øre.
    pub amount_ore: i64,
    /// The UTC day checkout started, `YYYY-MM-DD`.
    pub day: String,
    /// Where it stands.
    pub status: PurchaseStatus,
    claim_hash: Option<String>,
    /// Whether the code was shown (it is shown once).
    pub code_shown: bool,
    /// Stripe's PaymentIntent id, once paid.
    pub payment_ref: Option<String>,
    /// The receipt address, sealed for this purchase id; `None` once sent
    /// or erased.
    pub receipt_sealed: Option<Vec<u8>>,
    /// Where the receipt stands.
    pub receipt: ReceiptState,
}

impl std::fmt::Debug for PurchaseRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurchaseRow")
            .field("id", &self.id)
            .field("program_slug", &self.program_slug)
            .field("day", &self.day)
            .field("status", &self.status)
            .field("code_shown", &self.code_shown)
            .field("receipt", &self.receipt)
            .finish_non_exhaustive()
    }
}

/// A new, unpaid purchase.
pub struct NewPurchase<'a> {
    /// Random id, chosen by the caller (the receipt address is sealed for it).
    pub id: &'a str,
    /// Stripe's Checkout Session id.
    pub stripe_session: &'a str,
    /// The program.
    pub program_slug: &'a str,
    /// Price in øre.
    pub amount_ore: i64,
    /// The UTC day.
    pub day: NaiveDate,
    /// SHA-256 (hex) of the buyer's claim cookie.
    pub claim_hash: &'a str,
    /// The sealed receipt address, if the buyer asked for a receipt.
    pub receipt_sealed: Option<&'a [u8]>,
}

/// What happened when a buyer came to see the code.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The code was minted now; show it.
    Minted,
    /// No purchase with that session, or it belongs to another browser.
    Unknown,
    /// Not paid (yet).
    NotPaid,
    /// Paid, but this purchase was cancelled or expired.
    Expired,
    /// The code was already shown once.
    AlreadyShown,
}

/// `YYYY-MM-DD`.
pub fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Midnight UTC at the start of `now`'s day: the only time of creation a
/// bought code's account gets.
pub fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_time(NaiveTime::MIN).and_utc()
}

impl PurchaseRow {
    /// Stores a new purchase when its Checkout Session was created.
    pub fn insert(conn: &mut DbConn, new: &NewPurchase<'_>) -> Result<(), StoreError> {
        let receipt = if new.receipt_sealed.is_some() {
            ReceiptState::Pending
        } else {
            ReceiptState::None
        };
        diesel::insert_into(purchases::table)
            .values((
                purchases::id.eq(new.id),
                purchases::stripe_session.eq(new.stripe_session),
                purchases::program_slug.eq(new.program_slug),
                purchases::amount_ore.eq(new.amount_ore),
                purchases::day.eq(day_text(new.day)),
                purchases::status.eq(PurchaseStatus::Open),
                purchases::claim_hash.eq(Some(new.claim_hash)),
                purchases::code_shown.eq(false),
                purchases::receipt_sealed.eq(new.receipt_sealed),
                purchases::receipt.eq(receipt),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The purchase for a Checkout Session.
    pub fn find_by_session(conn: &mut DbConn, session: &str) -> Result<Option<Self>, StoreError> {
        purchases::table
            .filter(purchases::stripe_session.eq(session))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// The purchase with `id`.
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        purchases::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// Every purchase, by day then id (for the operator's list).
    pub fn list(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        purchases::table
            .order((purchases::day.asc(), purchases::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Marks an open purchase paid; `false` if it was not open (already
    /// paid, expired, refunded, or unknown). Idempotent.
    pub fn mark_paid(
        conn: &mut DbConn,
        session: &str,
        payment_ref: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            purchases::table
                .filter(purchases::stripe_session.eq(session))
                .filter(purchases::status.eq(PurchaseStatus::Open)),
        )
        .set((
            purchases::status.eq(PurchaseStatus::Paid),
            purchases::payment_ref.eq(payment_ref),
        ))
        .execute(conn)?;
        Ok(n > 0)
    }

    /// Marks an open purchase expired (checkout abandoned): its claim and
    /// any receipt address are erased. `false` if it was not open.
    pub fn mark_expired(conn: &mut DbConn, session: &str) -> Result<bool, StoreError> {
        let open = purchases::table
            .filter(purchases::stripe_session.eq(session))
            .filter(purchases::status.eq(PurchaseStatus::Open));
        let n = diesel::update(open.filter(purchases::receipt.eq(ReceiptState::Pending)))
            .set((
                purchases::status.eq(PurchaseStatus::Expired),
                purchases::claim_hash.eq(None::<String>),
                purchases::receipt_sealed.eq(None::<Vec<u8>>),
                purchases::receipt.eq(ReceiptState::Erased),
            ))
            .execute(conn)?
            + diesel::update(open)
                .set((
                    purchases::status.eq(PurchaseStatus::Expired),
                    purchases::claim_hash.eq(None::<String>),
                ))
                .execute(conn)?;
        Ok(n > 0)
    }

    /// Marks a paid purchase refunded; `false` if it was not paid.
    pub fn mark_refunded(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
        let n = diesel::update(
            purchases::table
                .find(id)
                .filter(purchases::status.eq(PurchaseStatus::Paid)),
        )
        .set(purchases::status.eq(PurchaseStatus::Refunded))
        .execute(conn)?;
        Ok(n > 0)
    }

    /// Shows the code once: if the purchase for `session` is paid, belongs
    /// to the browser whose cookie hashes to `claim_hash`, and its code was
    /// not shown yet, creates the account for `code_hash` (program of the
    /// purchase, no organisation, created at the start of `now`'s day) and
    /// forgets the claim. Run it in a transaction.
    pub fn claim(
        conn: &mut DbConn,
        session: &str,
        claim_hash: &str,
        code_hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let Some(row) = Self::find_by_session(conn, session)? else {
            return Ok(ClaimOutcome::Unknown);
        };
        if row.code_shown {
            return Ok(ClaimOutcome::AlreadyShown);
        }
        let Some(stored) = row.claim_hash.as_deref() else {
            return Ok(ClaimOutcome::Expired);
        };
        if !constant_time_eq(stored.as_bytes(), claim_hash.as_bytes()) {
            return Ok(ClaimOutcome::Unknown);
        }
        match row.status {
            PurchaseStatus::Open => return Ok(ClaimOutcome::NotPaid),
            PurchaseStatus::Expired | PurchaseStatus::Refunded => {
                return Ok(ClaimOutcome::Expired);
            }
            PurchaseStatus::Paid => {}
        }
        let n = diesel::update(
            purchases::table
                .find(row.id.as_str())
                .filter(purchases::code_shown.eq(false)),
        )
        .set((
            purchases::code_shown.eq(true),
            purchases::claim_hash.eq(None::<String>),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(ClaimOutcome::AlreadyShown);
        }
        AccountRow::insert(
            conn,
            &NewAccount {
                code_hash,
                org_id: None,
                program_slug: Some(&row.program_slug),
                pseudonym: None,
            },
            start_of_day(now),
        )?;
        Ok(ClaimOutcome::Minted)
    }

    /// Purchases whose receipt waits to be sent (paid or refunded).
    pub fn pending_receipts(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        purchases::table
            .filter(purchases::receipt.eq(ReceiptState::Pending))
            .filter(
                purchases::status
                    .eq(PurchaseStatus::Paid)
                    .or(purchases::status.eq(PurchaseStatus::Refunded)),
            )
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Claims `id`'s pending receipt for one sender on `today`: `true` when
    /// the caller may send it now, `false` when it is sent, erased, or
    /// claimed today by another sender. A claim from an earlier day is
    /// stale (its sender stopped mid-send) and is taken over.
    pub fn claim_receipt(
        conn: &mut DbConn,
        id: &str,
        today: NaiveDate,
    ) -> Result<bool, StoreError> {
        let today = day_text(today);
        let claimed = diesel::update(
            purchases::table
                .find(id)
                .filter(purchases::receipt.eq(ReceiptState::Pending))
                .filter(
                    purchases::receipt_claimed_on
                        .is_null()
                        .or(purchases::receipt_claimed_on.lt(&today)),
                ),
        )
        .set(purchases::receipt_claimed_on.eq(Some(&today)))
        .execute(conn)?;
        Ok(claimed == 1)
    }

    /// Gives up a claim after a failed send, so the next pass tries again.
    pub fn release_receipt(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
        diesel::update(purchases::table.find(id))
            .set(purchases::receipt_claimed_on.eq(None::<String>))
            .execute(conn)?;
        Ok(())
    }

    /// The receipt was sent: the address is erased.
    pub fn receipt_sent(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
        diesel::update(purchases::table.find(id))
            .set((
                purchases::receipt_sealed.eq(None::<Vec<u8>>),
                purchases::receipt.eq(ReceiptState::Sent),
                purchases::receipt_claimed_on.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Erases every receipt address still waiting from `cutoff` or
    /// earlier (unsendable for too long); returns how many.
    pub fn erase_receipts_until(conn: &mut DbConn, cutoff: NaiveDate) -> Result<usize, StoreError> {
        Ok(diesel::update(
            purchases::table
                .filter(purchases::receipt.eq(ReceiptState::Pending))
                .filter(purchases::day.le(day_text(cutoff))),
        )
        .set((
            purchases::receipt_sealed.eq(None::<Vec<u8>>),
            purchases::receipt.eq(ReceiptState::Erased),
            purchases::receipt_claimed_on.eq(None::<String>),
        ))
        .execute(conn)?)
    }
}

/// Records that the Stripe event `id` was handled; `false` if it already
/// was (then its effect must not be applied again). Call it in the same
/// transaction as the effect.
pub fn record_event(conn: &mut DbConn, id: &str, day: NaiveDate) -> Result<bool, StoreError> {
    // Select, then insert: a failed insert would abort a PostgreSQL
    // transaction. A concurrent duplicate loses on the primary key, its
    // transaction rolls back, and Stripe delivers it again later.
    let seen = stripe_events::table
        .find(id)
        .select(stripe_events::id)
        .first::<String>(conn)
        .optional()?;
    if seen.is_some() {
        return Ok(false);
    }
    diesel::insert_into(stripe_events::table)
        .values((
            stripe_events::id.eq(id),
            stripe_events::day.eq(day_text(day)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Forgets handled event ids from `cutoff` or earlier (Stripe stops
/// retrying long before); returns how many.
pub fn purge_events_until(conn: &mut DbConn, cutoff: NaiveDate) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(stripe_events::table.filter(stripe_events::day.le(day_text(cutoff))))
            .execute(conn)?,
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use diesel::prelude::*;

    use super::{PurchaseRow, PurchaseStatus, ReceiptState};
    use crate::schema::purchases;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).expect("a valid day")
    }

    /// One sender at a time per receipt; a claim left from an earlier day
    /// (a sender that stopped mid-send) is taken over; nothing sent or
    /// erased is claimed again.
    #[test]
    fn a_receipt_is_claimed_once_a_day_until_sent() {
        let mut conn = crate::conn::memory_db();
        diesel::insert_into(purchases::table)
            .values((
                purchases::id.eq("p1"),
                purchases::stripe_session.eq("cs_1"),
                purchases::program_slug.eq("prog"),
                purchases::amount_ore.eq(49_000),
                purchases::day.eq("2026-12-04"),
                purchases::status.eq(PurchaseStatus::Paid),
                purchases::code_shown.eq(false),
                purchases::receipt_sealed.eq(Some(vec![1u8, 2, 3])),
                purchases::receipt.eq(ReceiptState::Pending),
            ))
            .execute(&mut conn)
            .expect("purchase");
        let claim =
            |conn: &mut _, d| PurchaseRow::claim_receipt(conn, "p1", day(d)).expect("claim");
        assert!(claim(&mut conn, 4), "the first sender");
        assert!(!claim(&mut conn, 4), "a second sender the same day");
        assert!(
            claim(&mut conn, 5),
            "a stale claim, taken over the next day"
        );
        PurchaseRow::release_receipt(&mut conn, "p1").expect("release");
        assert!(claim(&mut conn, 5), "released after a failed send");
        PurchaseRow::receipt_sent(&mut conn, "p1").expect("sent");
        assert!(!claim(&mut conn, 5), "sent: never again");
        assert!(!claim(&mut conn, 6), "not even another day");
        assert!(
            !claim(&mut conn, 4)
                && !PurchaseRow::claim_receipt(&mut conn, "p2", day(4)).expect("claim")
        );
    }
}
