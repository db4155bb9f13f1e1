//! Background maintenance. Every task is idempotent, so running it on
//! every instance is safe. Two rhythms: a cheap refresh every period
//! (`MESTRING_MAINTENANCE_SECS`: tag keys, blocks, the key file) and an
//! hourly sweep (expired codes, sessions, sharing lapses, the security-log
//! retention, handled feedback, key retirement) that scans tables.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use mestring_domain::policy::{retention, shredding};
use mestring_store::accounts::AccountRow;
use mestring_store::consent::ConsentRow;
use mestring_store::feedback::FeedbackRow;
use mestring_store::security::SecurityEventRow;
use mestring_store::sessions::SessionRow;
use mestring_web::AppState;

use crate::iplayer;
use crate::lifecycle::Lifecycle;

/// How often the sweep runs. The deletion bound
/// (`policy::shredding::DELETION_BOUND`) counts on it running hourly.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
const _: () = assert!(SWEEP_EVERY.as_secs() as i64 <= shredding::SWEEP_EVERY.num_seconds());

/// Starts the maintenance loop on the current runtime. The first tick
/// runs the whole pass at once. The loop ends when shutdown begins, but
/// only between passes: a pass (a deletion sweep, a key rotation) is never
/// cut off halfway.
pub fn spawn(
    state: AppState,
    security_log_days: i64,
    data_dir: std::path::PathBuf,
    period: Duration,
    lifecycle: Lifecycle,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut last_sweep: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = lifecycle.stopped() => break,
            }
            if lifecycle.is_stopping() {
                break;
            }
            let due = last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
            let result = if due {
                last_sweep = Some(std::time::Instant::now());
                run_once(&state, security_log_days, &data_dir).await
            } else {
                refresh(&state, &data_dir).await
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "maintenance failed");
            }
        }
    })
}

/// The cheap, frequent part.
async fn refresh(state: &AppState, data_dir: &std::path::Path) -> anyhow::Result<()> {
    iplayer::refresh(state, data_dir).await?;
    state.ip.housekeeping();
    Ok(())
}

/// One whole pass: the sweep (expired codes, sessions, sharing lapses,
/// security-log retention, key retirement, key-encryption-key rotation,
/// group-data counts) and the refresh.
pub async fn run_once(
    state: &AppState,
    security_log_days: i64,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let now = state.clock.now();
    let limits = state.config.user_sessions;
    let keks = state.keks.clone();
    let (deactivated, sessions, events, feedback, throttles) = state
        .store
        .run(move |conn| {
            let deactivated = AccountRow::deactivate_expired(conn, now)?;
            let lapses = ConsentRow::record_due_lapses(conn, now)?;
            if lapses > 0 {
                tracing::info!(lapses, "sharing lapses recorded");
            }
            // Logins sent to an identity provider that never came back
            // count with the sessions: both are half-open logins.
            let sessions = SessionRow::purge_expired(conn, limits, now)?
                + mestring_store::staff_sessions::StaffSessionRow::purge_expired(
                    conn,
                    mestring_dashboard::session::limits(),
                    now,
                )?
                + mestring_store::oidc::PendingLogin::purge_before(
                    conn,
                    now - mestring_domain::policy::oidc::PENDING_LOGIN,
                )?;
            let events = SecurityEventRow::purge_before(
                conn,
                now - ChronoDuration::days(security_log_days),
            )?;
            let feedback = FeedbackRow::purge_handled_before(
                conn,
                &keks,
                now - retention::HANDLED_FEEDBACK,
                now,
            )?;
            // Throttle rows that no longer decide anything (PostgreSQL
            // keeps the throttle there; on SQLite the table stays empty).
            let throttles = mestring_store::throttle::purge(conn, now)?;
            Ok((deactivated, sessions, events, feedback, throttles))
        })
        .await?;
    if deactivated + sessions + events + feedback + throttles > 0 {
        tracing::info!(
            deactivated,
            sessions,
            events,
            feedback,
            throttles,
            "maintenance"
        );
    }
    if feedback > 0 {
        // Handled feedback holds text users typed: out of the WAL too.
        state.store.checkpoint().await?;
    }
    iplayer::retire_keys(state, data_dir).await?;
    crate::keys::rotate_keks(&state.store, &state.keks, now, false).await?;
    // Receipts: send what waits, erase addresses too old to keep, and
    // forget handled Stripe event ids after the same time.
    match mestring_checkout::receipt::run(state).await {
        Ok(p) if p.failed > 0 => tracing::warn!(failed = p.failed, "receipts not sent yet"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "receipts not handled"),
    }
    let event_cutoff = (now - mestring_domain::policy::purchase::RECEIPT_EMAIL_MAX).date_naive();
    state
        .store
        .run(move |conn| mestring_store::purchases::purge_events_until(conn, event_cutoff))
        .await?;
    // Group data reads stored counts; a failure here leaves the old ones
    // (pages recompute when they are too old) and must not stop the rest.
    match mestring_dashboard::aggregates::refresh_snapshots(state).await {
        Ok(channels) => tracing::debug!(channels, "group data counts refreshed"),
        Err(e) => tracing::warn!(error = %e, "group data counts not refreshed"),
    }
    refresh(state, data_dir).await
}
