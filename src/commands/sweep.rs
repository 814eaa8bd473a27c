//! The pipeline's clock-driven upkeep: approvals that waited 15 minutes expire, commands
//! that waited past the queue's lifetime for an absent agent expire, and queued commands a
//! connected agent has not been handed yet (its stream was full) are handed over. It runs
//! every few seconds and when woken; time comes from the service's clock, so tests move the
//! clock and wake it instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::rows::{CommandRow, CommandStatus};
use super::service::lock;
use super::submit::{approval_key, queue_key};
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent};
use crate::model::Actor;
use crate::store::Table;

/// Seconds between sweeps.
const EVERY: Duration = Duration::from_secs(5);
/// Keys one sweep looks at at most per queue (the next sweep continues).
const MAX_KEYS: usize = 10_000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Approvals that expired.
    pub approvals_expired: usize,
    /// Undelivered commands that expired.
    pub queued_expired: usize,
    /// Queued commands handed to connected agents.
    pub delivered: usize,
}

impl Commands {
    /// One sweep.
    pub fn sweep(&self) -> Result<SweepReport, CommandError> {
        let now = self.now_ms();
        let mut report = SweepReport::default();
        let (pending, queued) = self.store.read(|tx| {
            let read = |table, key: &str| -> Result<Option<CommandRow>, CommandError> {
                let id = key.rsplit('/').next().unwrap_or_default();
                Ok(tx.row::<CommandRow>(table, id)?)
            };
            let mut pending = Vec::new();
            for (k, ()) in tx.rows_page::<()>(Table::PendingApprovals, "", None, MAX_KEYS)? {
                if let Some(r) = read(Table::Commands, &k)? {
                    pending.push(r);
                }
            }
            let mut queued = Vec::new();
            for (k, ()) in tx.rows_page::<()>(Table::AgentQueue, "", None, MAX_KEYS)? {
                if let Some(r) = read(Table::Commands, &k)? {
                    queued.push(r);
                }
            }
            Ok::<_, CommandError>((pending, queued))
        })?;
        for row in pending {
            let due = row.approval.as_ref().is_some_and(|a| a.expires_ms <= now);
            if row.status == CommandStatus::PendingApproval && due {
                self.expire(&row, "approval_timeout")?;
                report.approvals_expired += 1;
            }
        }
        for row in queued {
            if row.status != CommandStatus::Queued {
                continue;
            }
            if row.queue_expires_ms.is_some_and(|e| e <= now) && !self.is_running(&row.id) {
                self.expire(&row, "queue_ttl")?;
                report.queued_expired += 1;
            } else if self.hub.connection(&row.agent).is_some() && !self.is_running(&row.id) {
                self.deliver(&row);
                report.delivered += 1;
            }
        }
        Ok(report)
    }

    /// Wakes the sweep now (tests, after moving the clock).
    pub fn wake_sweep(&self) {
        self.wake.notify_one();
    }

    fn expire(&self, row: &CommandRow, reason: &str) -> Result<(), CommandError> {
        let now = self.now_ms();
        self.store.write(|tx| {
            let Some(mut r) = tx.row::<CommandRow>(Table::Commands, &row.id)? else {
                return Ok(());
            };
            if r.status.is_final() {
                return Ok(());
            }
            tx.delete_row(Table::PendingApprovals, &approval_key(&r))?;
            tx.delete_row(Table::AgentQueue, &queue_key(&r))?;
            r.status = CommandStatus::Expired;
            r.decision["outcome"] = "expired".into();
            r.updated_ms = now;
            tx.put_row(Table::Commands, &r.id, &r)?;
            let ctx = AuditContext {
                team: Some(r.team.clone()),
                request_id: Some(r.request_id.clone()),
                command: Some(r.command.clone()),
                ..AuditContext::actor(Actor::System)
            };
            let event = AuditEvent::CommandExpired {
                command: r.id.clone(),
                agent: r.agent.0.clone(),
                reason: reason.into(),
            };
            self.audit.append(tx, &ctx, &event)?;
            Ok::<_, CommandError>(())
        })?;
        lock(&self.inflight).remove(&row.id);
        self.notify(&row.id);
        Ok(())
    }
}

/// Sweeps every few seconds (and when woken) until `stop` turns true.
pub async fn schedule(commands: Arc<Commands>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(EVERY) => {}
            _ = commands.wake.notified() => {}
        }
        let c = Arc::clone(&commands);
        match tokio::task::spawn_blocking(move || c.sweep()).await {
            Ok(Ok(r)) if r != SweepReport::default() => tracing::debug!(?r, "command sweep"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "command sweep failed"),
            Err(e) => tracing::warn!(error = %e, "command sweep task failed"),
        }
    }
}
