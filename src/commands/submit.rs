//! Submitting a command: the request is checked, every target agent's command goes through
//! the pipeline (ACL → engine → approval gate → rate limit) and is stored with its audit
//! record in one transaction, then the ones that may run are handed to their agents.
//!
//! `(agent, request_id)` is the idempotency key: a request seen before answers its first
//! command (whatever happened to it since) and changes nothing — it is not judged again,
//! not counted by the rate limit, and never run twice.

use serde_json::json;

use super::pipeline::{evaluate, Evaluation, Facts, Outcome};
use super::policy_store::stored_policy;
use super::rows::{ApprovalInfo, CommandRow, CommandStatus, ScriptRef};
use super::scripts::script_for_run;
use super::service::{lock, new_id, APPROVAL_TTL_MS};
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent, DENIAL_WINDOW_SECS};
use crate::fleet::{AgentRow, AgentStatus};
use crate::identity::Principal;
use crate::policy::engine::MAX_COMMAND_BYTES;
use crate::policy::rate::RateDecision;
use crate::policy::{Action, Sampled};
use crate::store::{Table, WriteTx};

/// Agents one request may reach at most (by tag).
pub const MAX_FAN_OUT: usize = 500;
/// The longest request id.
const MAX_REQUEST_ID: usize = 128;

/// What a member asks to run: a command text or an approved script, exactly one.
#[derive(Debug, Clone, Default)]
pub struct NewCommand {
    /// The command text (run with `/bin/sh -c`).
    pub command: Option<String>,
    /// The name of a script in the team's approved library.
    pub script: Option<String>,
    /// Its version (default: the newest).
    pub script_version: Option<u32>,
    /// The caller's idempotency key: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
    pub request_id: String,
    /// Seconds the command may run (default from the config, at most one day).
    pub timeout_s: Option<u32>,
}

/// Which agents a request is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// One agent, by id.
    Agent(String),
    /// Every active agent of the team carrying this tag.
    Tag(String),
}

/// One command of a request, new or answered from an earlier identical request.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The command.
    pub row: CommandRow,
    /// Whether an earlier request with the same id made it.
    pub replayed: bool,
}

/// Refuses empty commands, NUL bytes and commands over the engine's size limit.
pub(super) fn check_command_text(command: &str) -> Result<(), CommandError> {
    if command.trim().is_empty() {
        return Err(CommandError::invalid("command", "must not be empty"));
    }
    if command.len() > MAX_COMMAND_BYTES {
        return Err(CommandError::invalid(
            "command",
            format!("is {} bytes; at most {MAX_COMMAND_BYTES}", command.len()),
        ));
    }
    if command.contains('\0') {
        return Err(CommandError::invalid(
            "command",
            "must not contain NUL bytes",
        ));
    }
    Ok(())
}

fn check_request_id(id: &str) -> Result<(), CommandError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if !ok {
        return Err(CommandError::invalid(
            "request_id",
            "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'",
        ));
    }
    Ok(())
}

/// The command text and script a request names, checked.
struct Resolved {
    text: String,
    script: Option<ScriptRef>,
    timeout_s: u32,
}

impl Commands {
    /// Submits `req` to `target` as `p`. Answers one entry per target agent.
    pub fn submit(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        target: Target,
        req: NewCommand,
    ) -> Result<Vec<Submitted>, CommandError> {
        self.check(p, Action::Operate)?;
        check_request_id(&req.request_id)?;
        let resolved = self.resolve(p, &req)?;
        let agents = self.targets(p, ctx, &target)?;
        let batch = matches!(target, Target::Tag(_)).then(|| new_id("bat"));
        let label = match &target {
            Target::Agent(id) => format!("agent:{id}"),
            Target::Tag(t) => format!("tag:{t}"),
        };
        let result = self.store.write(|tx| {
            self.submit_in(
                tx,
                p,
                ctx,
                &agents,
                &req.request_id,
                &resolved,
                batch.as_deref(),
            )
        });
        let submitted = match result {
            Err(CommandError::RateLimited {
                limit,
                retry_after_secs,
            }) => {
                let event = AuditEvent::CommandRateLimited {
                    target: label,
                    retry_after_secs,
                };
                let ctx = AuditContext {
                    command: Some(resolved.text.clone()),
                    ..ctx.clone()
                };
                self.audit.append_denial(&self.store, &ctx, &event)?;
                return Err(CommandError::RateLimited {
                    limit,
                    retry_after_secs,
                });
            }
            other => other?,
        };
        for s in submitted.iter().filter(|s| !s.replayed) {
            if s.row.status == CommandStatus::Queued {
                self.deliver(&s.row);
            }
            self.notify(&s.row.id);
        }
        Ok(submitted)
    }

    fn resolve(&self, p: &Principal, req: &NewCommand) -> Result<Resolved, CommandError> {
        let timeout_s = req.timeout_s.unwrap_or(self.settings.default_timeout_s);
        if !(1..=crate::config::MAX_COMMAND_TIMEOUT_SECS).contains(&timeout_s) {
            return Err(CommandError::invalid(
                "timeout_s",
                format!(
                    "must be between 1 and {} seconds",
                    crate::config::MAX_COMMAND_TIMEOUT_SECS
                ),
            ));
        }
        let (text, script) = match (&req.command, &req.script) {
            (Some(_), Some(_)) => {
                return Err(CommandError::invalid(
                    "script",
                    "send either command or script, not both",
                ))
            }
            (None, None) => {
                return Err(CommandError::invalid(
                    "command",
                    "send a command (or the name of an approved script)",
                ))
            }
            (Some(c), None) => (c.clone(), None),
            (None, Some(name)) => {
                let s = self
                    .store
                    .read(|tx| script_for_run(tx, p.team(), name, req.script_version))?;
                let r = ScriptRef {
                    name: s.name.clone(),
                    version: s.version,
                    sha256: s.sha256.clone(),
                };
                (s.content, Some(r))
            }
        };
        check_command_text(&text)?;
        Ok(Resolved {
            text,
            script,
            timeout_s,
        })
    }

    /// The active agents a target names, within the principal's team and agent scope.
    fn targets(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        target: &Target,
    ) -> Result<Vec<AgentRow>, CommandError> {
        match target {
            Target::Agent(id) => {
                let a = self.fleet.agent(p, ctx, id)?;
                if a.status != AgentStatus::Active {
                    return Err(CommandError::Conflict(format!(
                        "Agent {} is deactivated; it cannot run commands.",
                        a.name
                    )));
                }
                Ok(vec![a])
            }
            Target::Tag(tag) => {
                let tag = tag.trim().to_ascii_lowercase();
                let agents: Vec<AgentRow> = self
                    .fleet
                    .agents(p)?
                    .into_iter()
                    .filter(|a| a.status == AgentStatus::Active && a.tags.contains(&tag))
                    .collect();
                if agents.is_empty() {
                    return Err(CommandError::invalid(
                        "tag",
                        format!("no active agent of your team carries the tag {tag:?}"),
                    ));
                }
                if agents.len() > MAX_FAN_OUT {
                    return Err(CommandError::invalid(
                        "tag",
                        format!(
                            "{} agents carry it; one request reaches at most {MAX_FAN_OUT}",
                            agents.len()
                        ),
                    ));
                }
                Ok(agents)
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one transaction's worth of context
    fn submit_in(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        ctx: &AuditContext,
        agents: &[AgentRow],
        request_id: &str,
        resolved: &Resolved,
        batch: Option<&str>,
    ) -> Result<Vec<Submitted>, CommandError> {
        let now = self.clock.now();
        let now_ms = self.now_ms();
        let stored = stored_policy(tx, p.team())?;
        let engine = self.engine_for(p.team(), &stored)?;
        let mut out = Vec::with_capacity(agents.len());
        let mut fresh = Vec::new();
        for a in agents {
            let key = format!("{}/{request_id}", a.id);
            if let Some(id) = tx.row::<String>(Table::CommandKeys, &key)? {
                let row = tx
                    .row::<CommandRow>(Table::Commands, &id)?
                    .ok_or(CommandError::NotFound)?;
                if row.command != resolved.text || row.script != resolved.script {
                    return Err(CommandError::Conflict(format!(
                        "request_id {request_id:?} was already used for a different command \
                         on agent {}; use a new request_id",
                        a.name
                    )));
                }
                out.push(Submitted {
                    row,
                    replayed: true,
                });
                continue;
            }
            let eval = evaluate(
                &stored.policy,
                &engine,
                &Facts {
                    role: p.role(),
                    agent_id: &a.id.0,
                    agent_tags: &a.tags,
                    command: &resolved.text,
                    library_script: resolved.script.is_some(),
                    now,
                },
            );
            fresh.push((a, eval));
        }
        // The rate limit is the fourth stage: one request counts once, however many agents
        // it reaches, and only when some command of it passed the first three.
        let rate = if fresh
            .iter()
            .any(|(_, e)| !matches!(e.outcome, Outcome::Blocked(_)))
        {
            let key = (p.team().clone(), p.user().clone());
            let d = lock(&self.rate).check(&key, now.unix_timestamp());
            if let RateDecision::Limited { retry_after_secs } = d {
                return Err(CommandError::RateLimited {
                    limit: self.settings.rate_per_hour,
                    retry_after_secs,
                });
            }
            Some(d)
        } else {
            None
        };
        if rate.is_none() && !fresh.is_empty() {
            // Every command of the request was refused: a denied attempt, sampled like the
            // others so a flood of refused commands is counted instead of stored.
            let (a, eval) = &fresh[0];
            let rule = match &eval.outcome {
                Outcome::Blocked(b) => b.rule.clone(),
                _ => String::new(),
            };
            let probe = AuditEvent::CommandBlocked {
                command: String::new(),
                agent: a.id.0.clone(),
                stage: String::new(),
                rule,
                risk_score: eval.risk_score,
            };
            match self.audit.sample_denial(ctx, &probe) {
                Sampled::Suppress => {
                    return Err(CommandError::TooManyRefused {
                        retry_after_secs: DENIAL_WINDOW_SECS.unsigned_abs(),
                    })
                }
                Sampled::RecordAfter(summary) => {
                    self.audit.append_suppressed(tx, &summary)?;
                }
                Sampled::Record => {}
            }
        }
        for (a, eval) in fresh {
            let row = self.new_row(p, ctx, a, request_id, resolved, batch, eval, rate, now_ms);
            self.insert(tx, ctx, &row)?;
            out.push(Submitted {
                row,
                replayed: false,
            });
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_row(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        a: &AgentRow,
        request_id: &str,
        resolved: &Resolved,
        batch: Option<&str>,
        eval: Evaluation,
        rate: Option<RateDecision>,
        now_ms: i64,
    ) -> CommandRow {
        let mut decision = eval.decision;
        let (status, blocked, approval) = match eval.outcome {
            Outcome::Blocked(b) => (CommandStatus::Blocked, Some(b), None),
            Outcome::NeedsApproval(reason) => (
                CommandStatus::PendingApproval,
                None,
                Some(ApprovalInfo {
                    reason,
                    expires_ms: now_ms + APPROVAL_TTL_MS,
                    decided_by: None,
                    decided_ms: None,
                }),
            ),
            Outcome::Run => (CommandStatus::Queued, None, None),
        };
        if let (Some(r), None) = (rate, &blocked) {
            decision["rate_limit"] = json!(r);
        }
        decision["outcome"] = json!(status.as_str());
        CommandRow {
            id: new_id("cmd"),
            team: p.team().clone(),
            agent: a.id.clone(),
            agent_name: a.name.clone(),
            request_id: request_id.to_string(),
            batch: batch.map(str::to_string),
            command: resolved.text.clone(),
            script: resolved.script.clone(),
            requested_by: p.user().clone(),
            requester_email: p.email().to_string(),
            actor: ctx.actor.to_string(),
            created_ms: now_ms,
            status,
            risk_score: eval.risk_score,
            level: eval.level.to_string(),
            decision,
            blocked,
            approval,
            timeout_s: resolved.timeout_s,
            output_cap: self.settings.output_max_bytes,
            queue_expires_ms: (status == CommandStatus::Queued)
                .then(|| now_ms + self.queue_ttl_ms()),
            result: None,
            updated_ms: now_ms,
        }
    }

    pub(super) fn queue_ttl_ms(&self) -> i64 {
        i64::try_from(self.settings.queue_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Stores a new command with its indexes and its audit record.
    fn insert(
        &self,
        tx: &mut WriteTx,
        ctx: &AuditContext,
        row: &CommandRow,
    ) -> Result<(), CommandError> {
        tx.put_row(Table::Commands, &row.id, row)?;
        tx.put_row(
            Table::CommandKeys,
            &format!("{}/{}", row.agent, row.request_id),
            &row.id,
        )?;
        tx.put_row(Table::TeamCommands, &history_key(row), &())?;
        match row.status {
            CommandStatus::Queued => tx.put_row(Table::AgentQueue, &queue_key(row), &())?,
            CommandStatus::PendingApproval => {
                tx.put_row(Table::PendingApprovals, &approval_key(row), &())?
            }
            _ => {}
        }
        let ctx = AuditContext {
            policy_result: Some(row.decision.clone()),
            command: Some(row.command.clone()),
            ..ctx.clone()
        };
        let event = match &row.blocked {
            Some(b) => AuditEvent::CommandBlocked {
                command: row.id.clone(),
                agent: row.agent.0.clone(),
                stage: b.stage.clone(),
                rule: b.rule.clone(),
                risk_score: row.risk_score,
            },
            None => AuditEvent::CommandSubmitted {
                command: row.id.clone(),
                agent: row.agent.0.clone(),
                status: row.status.as_str().into(),
                risk_score: row.risk_score,
                level: row.level.clone(),
                script: row
                    .script
                    .as_ref()
                    .map(|s| format!("{}@{}", s.name, s.version)),
            },
        };
        self.audit.append(tx, &ctx, &event)?;
        Ok(())
    }
}

/// `team/newest-first time/id`: a team's history in one forward scan, newest first.
pub(super) fn history_key(row: &CommandRow) -> String {
    let inverted = u64::MAX - u64::try_from(row.created_ms).unwrap_or(0);
    format!("{}/{inverted:020}/{}", row.team, row.id)
}

/// `agent/created/id`: an agent's undelivered commands, oldest first.
pub(super) fn queue_key(row: &CommandRow) -> String {
    format!("{}/{:020}/{}", row.agent, row.created_ms.max(0), row.id)
}

/// `team/created/id`: a team's approval queue, oldest first.
pub(super) fn approval_key(row: &CommandRow) -> String {
    format!("{}/{:020}/{}", row.team, row.created_ms.max(0), row.id)
}
