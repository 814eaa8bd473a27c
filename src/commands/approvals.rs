//! The approval gate after the fact: the team's queue of commands waiting for an owner or
//! admin, approving (with a fresh password confirmation, never by the requester) and
//! denying, and the 15-minute expiry.
//!
//! Approving re-runs the ACL and the engine at the moment of approval: a policy saved since
//! the request, or a time window that has closed, still refuses it.

use super::pipeline::{evaluate, Facts, Outcome};
use super::policy_store::stored_policy;
use super::rows::{CommandRow, CommandStatus};
use super::submit::{approval_key, queue_key};
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent};
use crate::fleet::AgentRow;
use crate::identity::Principal;
use crate::policy::Action;
use crate::store::Table;

/// Commands one listing of the approval queue shows at most.
const MAX_LISTED: usize = 500;

/// An approver's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Approve,
    /// Refuse it.
    Deny,
}

impl Commands {
    /// The team's commands waiting for an approval, oldest first (every role may look).
    pub fn approvals(&self, p: &Principal) -> Result<Vec<CommandRow>, CommandError> {
        self.check(p, Action::View)?;
        let now = self.now_ms();
        let rows = self.store.read(|tx| {
            let prefix = format!("{}/", p.team());
            let mut out = Vec::new();
            for (key, ()) in
                tx.rows_page::<()>(Table::PendingApprovals, &prefix, None, MAX_LISTED)?
            {
                let Some(id) = key.rsplit('/').next() else {
                    continue;
                };
                if let Some(row) = tx.row::<CommandRow>(Table::Commands, id)? {
                    let live = row.approval.as_ref().is_some_and(|a| a.expires_ms > now);
                    if row.status == CommandStatus::PendingApproval && live {
                        out.push(row);
                    }
                }
            }
            Ok::<_, CommandError>(out)
        })?;
        let mut visible = Vec::with_capacity(rows.len());
        for r in rows {
            if self.in_scope(p, &r)? {
                visible.push(r);
            }
        }
        Ok(visible)
    }

    /// Approves or denies a waiting command. Owners and admins other than the requester;
    /// approving also needs a password confirmed within the last 5 minutes.
    pub fn decide(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
        verdict: Verdict,
    ) -> Result<CommandRow, CommandError> {
        self.check(p, Action::Approve)?;
        let row = self.command_in(p, ctx, id)?;
        if row.requested_by == *p.user() {
            return Err(CommandError::Forbidden(
                "You asked for this command; another owner or admin must decide on it.".into(),
            ));
        }
        if verdict == Verdict::Approve && !p.reauthenticated(self.clock.now().unix_timestamp()) {
            return Err(CommandError::ReauthRequired);
        }
        let now_ms = self.now_ms();
        let now = self.clock.now();
        let decided = self.store.write(|tx| {
            let mut row = tx
                .row::<CommandRow>(Table::Commands, &row.id)?
                .ok_or(CommandError::NotFound)?;
            let Some(mut approval) = row.approval.clone() else {
                return Err(CommandError::Conflict(
                    "This command needs no approval.".into(),
                ));
            };
            if row.status != CommandStatus::PendingApproval {
                return Err(CommandError::Conflict(format!(
                    "This command is {} and no longer waits for an approval.",
                    row.status.as_str()
                )));
            }
            if approval.expires_ms <= now_ms {
                return Err(CommandError::Conflict(
                    "This command waited more than 15 minutes and expired; ask again.".into(),
                ));
            }
            tx.delete_row(Table::PendingApprovals, &approval_key(&row))?;
            approval.decided_by = Some(p.email().to_string());
            approval.decided_ms = Some(now_ms);
            row.approval = Some(approval);
            row.updated_ms = now_ms;
            let event = match verdict {
                Verdict::Deny => {
                    row.status = CommandStatus::Denied;
                    row.decision["outcome"] = "denied".into();
                    AuditEvent::CommandDenied {
                        command: row.id.clone(),
                        agent: row.agent.0.clone(),
                        requested_by: row.requested_by.0.clone(),
                    }
                }
                Verdict::Approve => {
                    // The ACL and the engine again, now: policy or time may have changed.
                    let agent = tx
                        .row::<AgentRow>(Table::Agents, &row.agent.0)?
                        .ok_or(CommandError::NotFound)?;
                    let stored = stored_policy(tx, &row.team)?;
                    let engine = self.engine_for(&row.team, &stored)?;
                    let requester_role = role_of(tx, &row)?;
                    let eval = evaluate(
                        &stored.policy,
                        &engine,
                        &Facts {
                            role: requester_role,
                            agent_id: &agent.id.0,
                            agent_tags: &agent.tags,
                            command: &row.command,
                            library_script: row.script.is_some(),
                            now,
                        },
                    );
                    if let Outcome::Blocked(b) = eval.outcome {
                        return Err(CommandError::Conflict(format!(
                            "The policy now refuses this command ({} rule {}: {}).",
                            b.stage, b.rule, b.reason
                        )));
                    }
                    row.status = CommandStatus::Queued;
                    row.queue_expires_ms = Some(now_ms + self.queue_ttl_ms());
                    row.decision["outcome"] = "queued".into();
                    row.decision["approved_by"] = p.email().into();
                    tx.put_row(Table::AgentQueue, &queue_key(&row), &())?;
                    AuditEvent::CommandApproved {
                        command: row.id.clone(),
                        agent: row.agent.0.clone(),
                        requested_by: row.requested_by.0.clone(),
                    }
                }
            };
            tx.put_row(Table::Commands, &row.id, &row)?;
            let ctx = AuditContext {
                policy_result: Some(row.decision.clone()),
                command: Some(row.command.clone()),
                ..ctx.clone()
            };
            self.audit.append(tx, &ctx, &event)?;
            Ok(row)
        })?;
        if decided.status == CommandStatus::Queued {
            self.deliver(&decided);
        }
        self.notify(&decided.id);
        Ok(decided)
    }
}

/// The requester's role in the command's team now (a member who left or was demoted cannot
/// have a command approved beyond what they may do).
fn role_of(
    tx: &crate::store::WriteTx,
    row: &CommandRow,
) -> Result<crate::model::Role, CommandError> {
    let key = format!("{}/{}", row.team, row.requested_by);
    tx.row::<crate::identity::MembershipRow>(Table::Memberships, &key)?
        .map(|m| m.role)
        .ok_or_else(|| {
            CommandError::Conflict("The member who asked for this command left the team.".into())
        })
}
