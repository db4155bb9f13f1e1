//! Background maintenance. Every task is idempotent, so running it every
//! few minutes on every instance is safe; the "daily" work is whatever has
//! become due since the last run.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use mestring_store::accounts::AccountRow;
use mestring_store::consent::ConsentRow;
use mestring_store::security::SecurityEventRow;
use mestring_store::sessions::SessionRow;
use mestring_web::AppState;

use crate::iplayer;

/// Starts the maintenance loop on the current runtime.
pub fn spawn(
    state: AppState,
    security_log_days: i64,
    data_dir: std::path::PathBuf,
    period: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = run_once(&state, security_log_days, &data_dir).await {
                tracing::error!(error = %e, "maintenance failed");
            }
        }
    });
}

/// One pass of maintenance: expired codes, sessions, security log, keys.
pub async fn run_once(
    state: &AppState,
    security_log_days: i64,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let now = state.clock.now();
    let limits = state.config.user_sessions;
    let (deactivated, sessions, events) = state
        .store
        .run(move |conn| {
            let deactivated = AccountRow::deactivate_expired(conn, now)?;
            let lapses = ConsentRow::record_due_lapses(conn, now)?;
            if lapses > 0 {
                tracing::info!(lapses, "sharing lapses recorded");
            }
            let sessions = SessionRow::purge_expired(conn, limits, now)?
                + mestring_store::staff_sessions::StaffSessionRow::purge_expired(
                    conn,
                    mestring_dashboard::session::limits(),
                    now,
                )?;
            let events = SecurityEventRow::purge_before(
                conn,
                now - ChronoDuration::days(security_log_days),
            )?;
            Ok((deactivated, sessions, events))
        })
        .await?;
    if deactivated + sessions + events > 0 {
        tracing::info!(deactivated, sessions, events, "maintenance");
    }
    iplayer::refresh(state, data_dir).await?;
    state.ip.housekeeping();
    Ok(())
}
