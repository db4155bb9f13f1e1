//! Whether the process is shutting down, shared by the signal handler,
//! `/readyz`, the connection middleware and the background jobs.

use std::sync::Arc;

/// Whether the process is shutting down. Shared by the signal handler,
/// `/readyz`, the connection middleware and the background jobs.
#[derive(Clone)]
pub struct Lifecycle {
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

impl Lifecycle {
    /// Marks the process as shutting down: `/readyz` answers 503, every
    /// response closes its connection, the jobs stop after their current
    /// step. Idempotent.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once shutdown has begun.
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        // An error means the sender is gone, which cannot happen while
        // `self` holds it; either way there is nothing left to wait for.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}
