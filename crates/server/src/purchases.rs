//! `mestring purchases list|refund` (docs/payments.md). Never prints an
//! e-mail address or a code: the store holds no code, and a receipt
//! address is shown only as its state.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use mestring_domain::clock::Clock;
use mestring_store::purchases::{PurchaseRow, PurchaseStatus};
use mestring_store::security::{AuditRow, NewAudit};

use crate::config::Config;
use crate::corrections::operator;

/// What `mestring purchases` does.
#[derive(Debug, Subcommand)]
pub enum PurchasesCommand {
    /// List purchases: id, day, program, amount, status, receipt state and
    /// Stripe's payment reference (which the buyer's receipt and Stripe's
    /// own e-mail quote, so a refund request can be matched).
    List,
    /// Refund a paid purchase in full through Stripe (audited). The code
    /// bought with it stays valid: nothing links the two.
    Refund {
        /// The purchase id from `mestring purchases list`.
        id: String,
    },
}

/// Runs a `purchases` subcommand.
pub async fn run(
    command: PurchasesCommand,
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    match command {
        PurchasesCommand::List => {
            let rows = store.run(PurchaseRow::list).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "id\tday\tprogram\tamount_nok\tstatus\treceipt\tstripe_payment"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.day,
                    r.program_slug,
                    mestring_checkout::receipt::kroner(r.amount_ore),
                    r.status.as_str(),
                    r.receipt.as_str(),
                    r.payment_ref.as_deref().unwrap_or("-")
                )?;
            }
            Ok(())
        }
        PurchasesCommand::Refund { id } => {
            let stripe = config.stripe.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "purchasing is off: set MESTRING_STRIPE_SECRET_KEY and MESTRING_STRIPE_WEBHOOK_SECRET"
                )
            })?;
            let lookup = id.clone();
            let row = store
                .run(move |conn| PurchaseRow::find(conn, &lookup))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no purchase with that id"))?;
            anyhow::ensure!(
                row.status == PurchaseStatus::Paid,
                "purchase {} is {}, not paid; nothing refunded",
                row.id,
                row.status.as_str()
            );
            let payment = row
                .payment_ref
                .clone()
                .ok_or_else(|| anyhow::anyhow!("purchase {} has no Stripe payment", row.id))?;
            let gateway =
                mestring_checkout::Gateway::new(&stripe.secret_key, stripe.api_base.as_deref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            gateway
                .refund(&payment, row.id.as_str())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let now = clock.now();
            let actor = operator();
            let subject = format!("purchase={}", row.id);
            let rid = row.id.clone();
            store
                .transaction(move |conn| {
                    PurchaseRow::mark_refunded(conn, rid.as_str())?;
                    AuditRow::insert(
                        conn,
                        &NewAudit {
                            at: now,
                            actor: &actor,
                            action: "purchase_refund",
                            subject: &subject,
                            reason: "refund through Stripe",
                            row_count: 1,
                        },
                    )
                })
                .await?;
            eprintln!(
                "refunded purchase {} through Stripe; its code stays valid (nothing links them)",
                row.id
            );
            Ok(())
        }
    }
}
