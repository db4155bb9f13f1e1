//! Fulfilment, the one place a purchase becomes paid or expired; called
//! from the webhook and from the success page, any number of times.

use chrono::{DateTime, Utc};
use mestring_store::purchases::{PurchaseRow, record_event};
use mestring_store::{Store, StoreError};

use crate::gateway::SessionState;

/// Applies what Stripe says about `session`. With an `event` id, the id is
/// recorded in the same transaction, and an event seen before changes
/// nothing. Returns whether anything changed.
pub async fn apply(
    store: &Store,
    session: String,
    state: SessionState,
    event: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    store
        .transaction(move |conn| {
            if let Some(id) = &event
                && !record_event(conn, id, now.date_naive())?
            {
                return Ok(false);
            }
            if state.paid {
                PurchaseRow::mark_paid(conn, &session, state.payment_ref.as_deref())
            } else if state.expired {
                PurchaseRow::mark_expired(conn, &session)
            } else {
                Ok(false)
            }
        })
        .await
}
