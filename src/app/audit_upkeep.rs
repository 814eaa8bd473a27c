//! The audit log's housekeeping: every sampling window it records the counts of sampled
//! denials (so a flood that stops is still reported) and publishes the signed head of each
//! team whose chain moved, once per `audit_head_interval_secs` on the appliance's clock.
//! A wake-up lets tests move that clock instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::core::Core;

/// The housekeeping task's handle.
pub struct AuditUpkeep {
    core: Arc<Core>,
    wake: Notify,
    rounds: watch::Sender<u64>,
}

impl AuditUpkeep {
    /// Housekeeping for `core`'s audit log.
    pub fn new(core: Arc<Core>) -> Arc<Self> {
        Arc::new(Self {
            core,
            wake: Notify::new(),
            rounds: watch::channel(0).0,
        })
    }

    /// Makes the task look at the clock now (after a test moved it).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until at least `n` rounds have finished since start.
    pub async fn wait_for_rounds(&self, n: u64) {
        let mut rx = self.rounds.subscribe();
        let _ = rx.wait_for(|done| *done >= n).await;
    }

    /// Rounds finished so far.
    pub fn rounds(&self) -> u64 {
        *self.rounds.borrow()
    }

    fn round(&self) {
        let core = &self.core;
        if let Err(e) = core.audit.flush_denials(&core.store) {
            tracing::warn!(error = %e, "recording suppressed denials failed");
        }
        let interval = core.config.audit_head_interval_secs;
        if interval > 0 {
            match core.audit.publish_due_heads(&core.store, interval) {
                Ok(published) => {
                    for p in published {
                        tracing::info!(team = %p.head.team, team_seq = p.head.team_seq, "audit head published");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "publishing audit heads failed"),
            }
        }
    }

    /// Runs a round every sampling window and on every wake-up until `stop` turns true, and
    /// a last denial flush then.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_secs(crate::audit::DENIAL_WINDOW_SECS.unsigned_abs());
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
            }
            let me = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || me.round()).await;
            self.rounds.send_modify(|n| *n += 1);
        }
        let core = Arc::clone(&self.core);
        let _ = tokio::task::spawn_blocking(move || core.audit.flush_denials(&core.store)).await;
    }
}
