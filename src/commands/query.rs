//! Reading commands back: one command (with its unsealed output), a team's history a page
//! at a time, and waiting for a command to change (the API's long poll).

use std::time::Duration;

use tokio::sync::broadcast;

use super::rows::{CommandRow, CommandStatus};
use super::{CommandError, Commands};
use crate::audit::AuditContext;
use crate::identity::Principal;
use crate::policy::Action;
use crate::store::Table;

/// The most commands one history page holds.
pub const MAX_PAGE: usize = 200;
/// History keys one page looks at at most while filtering (bounded work per request).
const MAX_SCAN: usize = 5000;

/// Which commands a history page shows.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only this agent's.
    pub agent: Option<String>,
    /// Only these states.
    pub status: Option<CommandStatus>,
    /// Only the commands of this request by tag (`bat_…`).
    pub batch: Option<String>,
    /// Continue after this cursor (from the previous page).
    pub after: Option<String>,
    /// At most this many (default 50, at most [`MAX_PAGE`]).
    pub limit: Option<usize>,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The commands.
    pub commands: Vec<CommandRow>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
}

impl Commands {
    /// One command of the principal's team (every role may look); another team's, or one
    /// outside an API token's agent scope, is `NotFound` (audited).
    pub fn get(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<CommandRow, CommandError> {
        self.check(p, Action::View)?;
        self.command_in(p, ctx, id)
    }

    /// A command with its output (stdout, stderr), unsealed.
    pub fn get_with_output(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<(CommandRow, Vec<u8>, Vec<u8>), CommandError> {
        let row = self.get(p, ctx, id)?;
        let sealed = self.store.read(|tx| tx.command_output(&row.id))?;
        let (out, err) = match sealed {
            Some(s) => super::output::open(&self.sealer, &row.id, &s).map_err(|e| {
                CommandError::Store(crate::store::StoreError::Corrupt {
                    what: format!("output of {}", row.id),
                    detail: e.to_string(),
                })
            })?,
            None => (Vec::new(), Vec::new()),
        };
        Ok((row, out, err))
    }

    /// A page of the team's command history, newest first.
    pub fn history(
        &self,
        p: &Principal,
        filter: &HistoryFilter,
    ) -> Result<HistoryPage, CommandError> {
        self.check(p, Action::View)?;
        let limit = filter.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let prefix = format!("{}/", p.team());
        let after = filter.after.as_deref().map(|a| format!("{prefix}{a}"));
        let (rows, last, exhausted) = self.store.read(|tx| {
            let keys =
                tx.rows_page::<()>(Table::TeamCommands, &prefix, after.as_deref(), MAX_SCAN)?;
            let exhausted = keys.len() < MAX_SCAN;
            let mut out = Vec::new();
            let mut last = None;
            for (key, ()) in keys {
                if out.len() == limit {
                    break;
                }
                last = Some(key.clone());
                let Some(id) = key.rsplit('/').next() else {
                    continue;
                };
                let Some(row) = tx.row::<CommandRow>(Table::Commands, id)? else {
                    continue;
                };
                let keep = filter.agent.as_deref().is_none_or(|a| row.agent.0 == a)
                    && filter.status.is_none_or(|s| row.status == s)
                    && filter
                        .batch
                        .as_deref()
                        .is_none_or(|b| row.batch.as_deref() == Some(b));
                if keep {
                    out.push(row);
                }
            }
            Ok::<_, CommandError>((out, last, exhausted))
        })?;
        let mut commands = Vec::with_capacity(rows.len());
        for r in rows {
            if self.in_scope(p, &r)? {
                commands.push(r);
            }
        }
        let full = commands.len() == limit;
        let next = match last {
            Some(k) if full || !exhausted => k.strip_prefix(&prefix).map(str::to_string),
            _ => None,
        };
        Ok(HistoryPage { commands, next })
    }
}

/// Waits up to `wait` for command `id` to change, on a receiver taken from
/// [`Commands::subscribe`] *before* the command was read (so no change falls in between).
pub async fn wait_change(mut rx: broadcast::Receiver<String>, id: &str, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(changed)) if changed == id => return,
            Ok(Ok(_)) => {}
            // Lagged: something may have been missed; the caller looks again.
            Ok(Err(_)) | Err(_) => return,
        }
    }
}
