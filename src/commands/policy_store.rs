//! A team's policy at rest: read (the defaults until someone saves one), replaced whole by
//! owners and admins after validation, and previewed against a draft without saving.

use serde::{Deserialize, Serialize};

use super::pipeline::{evaluate, Evaluation, Facts};
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent};
use crate::fleet::AgentRow;
use crate::identity::Principal;
use crate::model::{AgentId, Role, TeamId};
use crate::policy::{Action, TeamPolicy, MAX_POLICY_BYTES};
use crate::store::{RowRead, StoreError, Table};

/// A team's policy with its version (0: never saved, the defaults).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The policy.
    pub policy: TeamPolicy,
    /// 1, 2, … per save.
    pub version: u64,
    /// Who saved it (email), if anyone.
    pub updated_by: Option<String>,
    /// Unix milliseconds of the save.
    pub updated_ms: Option<i64>,
}

/// What a preview asks: a command on an agent (or on a made-up agent with `tags`) by a role
/// at a time, judged by a draft policy or the saved one.
#[derive(Debug, Clone, Default)]
pub struct PreviewRequest {
    /// The draft to judge with; `None`: the saved policy.
    pub draft: Option<TeamPolicy>,
    /// The command text.
    pub command: String,
    /// An agent of the team, whose tags count.
    pub agent: Option<String>,
    /// Tags of a made-up agent (when `agent` is `None`).
    pub tags: Vec<String>,
    /// The role to judge for; `None`: the caller's.
    pub role: Option<Role>,
    /// Unix seconds to check the time windows at; `None`: now.
    pub at: Option<i64>,
}

pub(super) fn stored_policy(tx: &impl RowRead, team: &TeamId) -> Result<StoredPolicy, StoreError> {
    Ok(tx
        .get_row::<StoredPolicy>(Table::TeamPolicies, &team.0)?
        .unwrap_or_default())
}

impl Commands {
    /// The team's policy (every role may read it: it says what they may do).
    pub fn policy(&self, p: &Principal) -> Result<StoredPolicy, CommandError> {
        self.check(p, Action::View)?;
        Ok(self.store.read(|tx| stored_policy(tx, p.team()))?)
    }

    /// Replaces the team's policy (owners and admins). An invalid policy is refused with
    /// its exact field and reason, and the previous one stays.
    pub fn put_policy(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        policy: TeamPolicy,
    ) -> Result<StoredPolicy, CommandError> {
        self.check(p, Action::ManageFleet)?;
        check_policy(&policy)?;
        let json = serde_json::to_value(&policy).unwrap_or_default();
        let now = self.now_ms();
        let stored = self.store.write(|tx| {
            let old = tx
                .row::<StoredPolicy>(Table::TeamPolicies, &p.team().0)?
                .unwrap_or_default();
            let new = StoredPolicy {
                policy: policy.clone(),
                version: old.version + 1,
                updated_by: Some(p.email().to_string()),
                updated_ms: Some(now),
            };
            tx.put_row(Table::TeamPolicies, &p.team().0, &new)?;
            let event = AuditEvent::PolicyUpdated {
                version: new.version,
                policy: json.clone(),
            };
            self.audit.append(tx, ctx, &event)?;
            Ok::<_, CommandError>(new)
        })?;
        // Compiles the team's rules now, so the first command after a save pays nothing.
        self.engine_for(p.team(), &stored)?;
        Ok(stored)
    }

    /// How the pipeline would judge a command, without running or storing anything.
    pub fn preview(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        req: PreviewRequest,
    ) -> Result<Evaluation, CommandError> {
        self.check(p, Action::View)?;
        let (tags, agent_id) = match &req.agent {
            Some(id) => {
                let a: AgentRow = self.fleet.agent(p, ctx, id)?;
                (a.tags, a.id)
            }
            None => (req.tags.clone(), AgentId("agt_preview".into())),
        };
        let (policy, engine) = match req.draft {
            Some(draft) => {
                check_policy(&draft)?;
                let engine = if draft.rules.is_empty() {
                    std::sync::Arc::clone(self.builtin())
                } else {
                    std::sync::Arc::new(self.builtin().with_rules(&draft.rules).map_err(|e| {
                        CommandError::PolicyInvalid {
                            field: format!("rules[{}].{}", e.index, e.field),
                            reason: e.reason,
                        }
                    })?)
                };
                (draft, engine)
            }
            None => {
                let stored = self.store.read(|tx| stored_policy(tx, p.team()))?;
                let engine = self.engine_for(p.team(), &stored)?;
                (stored.policy, engine)
            }
        };
        let now = match req.at {
            Some(at) => time::OffsetDateTime::from_unix_timestamp(at)
                .map_err(|_| CommandError::invalid("at", "not a valid Unix time"))?,
            None => self.clock.now(),
        };
        super::submit::check_command_text(&req.command)?;
        Ok(evaluate(
            &policy,
            &engine,
            &Facts {
                role: req.role.unwrap_or(p.role()),
                agent_id: &agent_id.0,
                agent_tags: &tags,
                command: &req.command,
                library_script: false,
                now,
            },
        ))
    }
}

fn check_policy(policy: &TeamPolicy) -> Result<(), CommandError> {
    let size = serde_json::to_vec(policy)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_POLICY_BYTES {
        return Err(CommandError::PolicyInvalid {
            field: "(policy)".into(),
            reason: format!("is {size} bytes as JSON; at most {MAX_POLICY_BYTES}"),
        });
    }
    policy.validate().map_err(|e| CommandError::PolicyInvalid {
        field: e.field,
        reason: e.reason,
    })
}
