//! The receipt e-mail: program, price, VAT, day and Stripe's payment
//! reference (never the code). The address is stored sealed until the
//! receipt is sent, then set to NULL; an address that could not be used
//! within `policy::purchase::RECEIPT_EMAIL_MAX` is erased unsent. On
//! SQLite (`secure_delete` is on) a WAL checkpoint follows, so the bytes
//! are gone from the file and the log.

use chrono::{DateTime, Utc};
use mestring_domain::content::Lang;
use mestring_domain::policy::purchase;
use mestring_store::purchases::PurchaseRow;
use mestring_web::AppState;

use crate::RECEIPT_PURPOSE;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Receipts sent (addresses erased).
    pub sent: usize,
    /// Sending failed; tried again later.
    pub failed: usize,
    /// Addresses erased unsent (too old).
    pub erased: usize,
}

/// Sends pending receipts in the background (after a payment).
pub fn send_soon(state: &AppState) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = run(&state).await {
            tracing::warn!(error = %e, "receipts not sent");
        }
    });
}

/// Sends every pending receipt, then erases addresses older than the
/// limit. Called after a payment and by the hourly maintenance sweep.
pub async fn run(state: &AppState) -> Result<Pass, mestring_store::StoreError> {
    let now = state.clock.now();
    let pending = state.store.run(PurchaseRow::pending_receipts).await?;
    let mut pass = Pass::default();
    for row in pending {
        let Some(sealed) = row.receipt_sealed.as_deref() else {
            continue;
        };
        let Some(address) = state
            .seal
            .open(RECEIPT_PURPOSE, row.id.as_str(), sealed)
            .and_then(|b| String::from_utf8(b).ok())
        else {
            tracing::warn!(purchase = %row.id, "receipt address does not open");
            pass.failed += 1;
            continue;
        };
        // One sender per receipt: the webhook's pass, the success page's
        // and another node's sweep can all find it pending at once.
        let id = row.id.clone();
        let today = now.date_naive();
        if !state
            .store
            .run(move |conn| PurchaseRow::claim_receipt(conn, id.as_str(), today))
            .await?
        {
            continue;
        }
        let (subject, body) = compose(state, &row);
        match state.mail.send(address, subject, body).await {
            Ok(()) => {
                let id = row.id.clone();
                state
                    .store
                    .run(move |conn| PurchaseRow::receipt_sent(conn, id.as_str()))
                    .await?;
                pass.sent += 1;
            }
            Err(e) => {
                // MailError never quotes the address.
                tracing::warn!(purchase = %row.id, error = %e, "receipt not sent yet");
                let id = row.id.clone();
                state
                    .store
                    .run(move |conn| PurchaseRow::release_receipt(conn, id.as_str()))
                    .await?;
                pass.failed += 1;
            }
        }
    }
    pass.erased = erase_old(state, now).await?;
    if pass.sent + pass.erased > 0 {
        state.store.checkpoint().await?;
        tracing::info!(
            sent = pass.sent,
            erased = pass.erased,
            "receipt addresses erased"
        );
    }
    Ok(pass)
}

async fn erase_old(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<usize, mestring_store::StoreError> {
    // The purchase day is stored, not the hour: an address from day D is
    // erased once D + 7 days has begun.
    let cutoff = (now - purchase::RECEIPT_EMAIL_MAX).date_naive();
    state
        .store
        .run(move |conn| PurchaseRow::erase_receipts_until(conn, cutoff))
        .await
}

/// `"490,00"` for 49 000 øre.
pub fn kroner(ore: i64) -> String {
    format!("{},{:02}", ore / 100, ore % 100)
}

fn compose(state: &AppState, row: &PurchaseRow) -> (String, String) {
    // The receipt is written in bokmål with English below: the buyer's
    // language is not stored.
    let nb = mestring_web::i18n::Catalog::get(Lang::Nb);
    let en = mestring_web::i18n::Catalog::get(Lang::En);
    let title = |lang: Lang| {
        state.content.program(&row.program_slug).map_or_else(
            || row.program_slug.clone(),
            |p| p.title.get(lang).to_owned(),
        )
    };
    let fill = |cat: &mestring_web::i18n::Catalog, lang: Lang| {
        cat.fill(
            "buy.receipt_body",
            &[
                ("program", &title(lang)),
                ("price", &kroner(row.amount_ore)),
                ("vat", &kroner(purchase::vat_ore(row.amount_ore))),
                ("vat_percent", &purchase::VAT_PERCENT.to_string()),
                ("day", &row.day),
                (
                    "reference",
                    row.payment_ref.as_deref().unwrap_or(&row.stripe_session),
                ),
            ],
        )
    };
    let subject = format!(
        "{} / {}",
        nb.t("buy.receipt_subject"),
        en.t("buy.receipt_subject")
    );
    let body = format!("{}\n\n---\n\n{}", fill(nb, Lang::Nb), fill(en, Lang::En));
    (subject, body)
}
