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

/// The value of one step of the sweep, or `None` when it failed: then the
/// error is logged with the step's name (store and key errors name a
/// table or a file, never a person) and the step is noted in `failed`.
fn step<T, E: std::fmt::Display>(
    failed: &mut Vec<&'static str>,
    name: &'static str,
    result: Result<T, E>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(step = name, error = %e, "maintenance step failed");
            failed.push(name);
            None
        }
    }
}

/// One whole pass: the sweep (expired codes, sessions, sharing lapses,
/// security-log retention, key retirement, key-encryption-key rotation,
/// group-data counts) and the refresh.
///
/// Every step runs even when an earlier one failed: each is idempotent
/// and independent of the others, and one that keeps failing (say, a
/// value that no longer opens, met by the purge of handled feedback) must
/// not also stop key rotation and destruction and the other deletions,
/// which `DELETION_BOUND` counts on. A failed step is logged as it fails
/// and the pass then ends with an error naming the failed steps.
pub async fn run_once(
    state: &AppState,
    security_log_days: i64,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let now = state.clock.now();
    let limits = state.config.user_sessions;
    let store = &state.store;
    let mut failed = Vec::new();

    let deactivated = step(
        &mut failed,
        "expired codes",
        store
            .run(move |conn| AccountRow::deactivate_expired(conn, now))
            .await,
    )
    .unwrap_or(0);
    let lapses = step(
        &mut failed,
        "sharing lapses",
        store
            .run(move |conn| ConsentRow::record_due_lapses(conn, now))
            .await,
    );
    if let Some(lapses) = lapses.filter(|n| *n > 0) {
        tracing::info!(lapses, "sharing lapses recorded");
    }
    // Logins sent to an identity provider that never came back count with
    // the sessions: both are half-open logins.
    let sessions = [
        step(
            &mut failed,
            "expired sessions",
            store
                .run(move |conn| SessionRow::purge_expired(conn, limits, now))
                .await,
        ),
        step(
            &mut failed,
            "expired staff sessions",
            store
                .run(move |conn| {
                    mestring_store::staff_sessions::StaffSessionRow::purge_expired(
                        conn,
                        mestring_dashboard::session::limits(),
                        now,
                    )
                })
                .await,
        ),
        step(
            &mut failed,
            "pending identity-provider logins",
            store
                .run(move |conn| {
                    mestring_store::oidc::PendingLogin::purge_before(
                        conn,
                        now - mestring_domain::policy::oidc::PENDING_LOGIN,
                    )
                })
                .await,
        ),
    ]
    .into_iter()
    .flatten()
    .sum::<usize>();
    let events = step(
        &mut failed,
        "security-log retention",
        store
            .run(move |conn| {
                SecurityEventRow::purge_before(conn, now - ChronoDuration::days(security_log_days))
            })
            .await,
    )
    .unwrap_or(0);
    let keks = state.keks.clone();
    let feedback = step(
        &mut failed,
        "handled feedback",
        store
            .run(move |conn| {
                FeedbackRow::purge_handled_before(
                    conn,
                    &keks,
                    now - retention::HANDLED_FEEDBACK,
                    now,
                )
            })
            .await,
    )
    .unwrap_or(0);
    // Throttle rows that no longer decide anything (PostgreSQL keeps the
    // throttle there; on SQLite the table stays empty).
    let throttles = step(
        &mut failed,
        "throttle cells",
        store
            .run(move |conn| mestring_store::throttle::purge(conn, now))
            .await,
    )
    .unwrap_or(0);
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
        step(&mut failed, "checkpoint", store.checkpoint().await);
    }
    step(
        &mut failed,
        "IP key retirement",
        iplayer::retire_keys(state, data_dir).await,
    );
    step(
        &mut failed,
        "key-encryption-key rotation",
        crate::keys::rotate_keks(store, &state.keks, now, false).await,
    );
    // Receipts: send what waits, erase addresses too old to keep, and
    // forget handled Stripe event ids after the same time.
    match mestring_checkout::receipt::run(state).await {
        Ok(p) if p.failed > 0 => tracing::warn!(failed = p.failed, "receipts not sent yet"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "receipts not handled"),
    }
    let event_cutoff = (now - mestring_domain::policy::purchase::RECEIPT_EMAIL_MAX).date_naive();
    step(
        &mut failed,
        "Stripe event ids",
        store
            .run(move |conn| mestring_store::purchases::purge_events_until(conn, event_cutoff))
            .await,
    );
    // Group data reads stored counts; a failure here leaves the old ones
    // (pages recompute when they are too old) and must not stop the rest.
    match mestring_dashboard::aggregates::refresh_snapshots(state).await {
        Ok(channels) => tracing::debug!(channels, "group data counts refreshed"),
        Err(e) => tracing::warn!(error = %e, "group data counts not refreshed"),
    }
    step(&mut failed, "refresh", refresh(state, data_dir).await);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "maintenance steps failed: {}",
            failed.join(", ")
        ))
    }
}
