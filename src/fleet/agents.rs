//! The agent registry: list, look up, tag, deactivate and delete a team's agents.
//!
//! Every lookup for a principal is scoped twice: to its team, and to its
//! [`AgentScope`](crate::identity::AgentScope) (an API token's agent/tag restriction). An
//! agent outside either is left out of lists and answers [`FleetError::NotFound`], audited
//! as `access.denied` (`other_team`, `out_of_scope` or `missing`).

use serde::{Deserialize, Serialize};

use super::tags::check_tags;
use super::{Fleet, FleetError};
use crate::audit::{AuditContext, AuditEvent};
use crate::identity::Principal;
use crate::model::{AgentId, TeamId};
use crate::policy::{allows, Action};
use crate::store::{Resolution, Table, WriteTx};

/// Whether an agent may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Enrolled; its certificate is accepted.
    Active,
    /// Deactivated by an admin; its certificate is refused.
    Deactivated,
}

/// An enrolled agent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    /// Its id (its certificate's CN).
    pub id: AgentId,
    /// The team it belongs to.
    pub team: TeamId,
    /// Display name.
    pub name: String,
    /// Host name it reported.
    pub hostname: String,
    /// Operating system it reported.
    pub os: String,
    /// Agent version it last reported.
    pub version: String,
    /// Tags (policy and targeting).
    pub tags: Vec<String>,
    /// Its Ed25519 identity public key (hex).
    pub identity_key: String,
    /// SHA-256 of its current client certificate (hex).
    pub cert_sha256: String,
    /// Unix seconds its certificate expires.
    pub cert_not_after: i64,
    /// Unix seconds of enrollment.
    pub enrolled: i64,
    /// The registration token it enrolled with (by id).
    pub enrolled_with: String,
    /// Active or deactivated.
    pub status: AgentStatus,
    /// Unix seconds of deactivation.
    pub deactivated: Option<i64>,
    /// Unix milliseconds of the last accepted `Connect` hello (replay floor).
    pub last_hello_ms: i64,
    /// Unix seconds it was last connected (written on disconnect).
    pub last_seen: Option<i64>,
}

pub(super) fn team_key(team: &TeamId, agent: &str) -> String {
    format!("{team}/{agent}")
}

/// Whether `p` may reach agent `a`: it is in the principal's team and its scope.
fn reachable(p: &Principal, a: &AgentRow) -> bool {
    a.team == *p.team() && p.agent_scope().allows(&a.id.0, &a.tags)
}

/// An agent `p` may reach, by id; `None` when missing, malformed, in another team or
/// outside the principal's agent scope.
pub(super) fn agent_in(
    tx: &WriteTx,
    p: &Principal,
    id: &str,
) -> Result<Option<AgentRow>, FleetError> {
    if !AgentId::is_well_formed(id) {
        return Ok(None);
    }
    Ok(tx
        .row::<AgentRow>(Table::Agents, id)?
        .filter(|a| reachable(p, a)))
}

impl Fleet {
    /// The principal's team's agents within its agent scope, by id.
    pub fn agents(&self, p: &Principal) -> Result<Vec<AgentRow>, FleetError> {
        self.check(p, Action::View)?;
        let prefix = format!("{}/", p.team());
        self.store.read(|tx| {
            let mut out = Vec::new();
            for (key, ()) in tx.rows::<()>(Table::TeamAgents, &prefix)? {
                let id = &key[prefix.len()..];
                if let Some(a) = tx.row::<AgentRow>(Table::Agents, id)? {
                    if reachable(p, &a) {
                        out.push(a);
                    }
                }
            }
            Ok::<_, FleetError>(out)
        })
    }

    /// One agent of the principal's team within its agent scope; another team's agent, or
    /// one outside the scope, is `NotFound` (audited).
    pub fn agent(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<AgentRow, FleetError> {
        self.check(p, Action::View)?;
        let found = self.store.read(|tx| {
            if !AgentId::is_well_formed(id) {
                return Ok(None);
            }
            let row = tx.row::<AgentRow>(Table::Agents, id)?;
            Ok::<_, FleetError>(row.filter(|a| reachable(p, a)))
        });
        self.denied(
            p,
            ctx,
            id,
            found.and_then(|a| a.ok_or(FleetError::NotFound)),
        )
    }

    /// Replaces an agent's tags (admins). A scoped token cannot widen its reach this way:
    /// only agents already in its scope can be retagged (any other is `NotFound`). New tags
    /// that take the agent out of the scope are accepted — that only narrows the token's
    /// reach — and the agent is answered once more, then hidden from that token.
    pub fn set_tags(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
        tags: Vec<String>,
    ) -> Result<AgentRow, FleetError> {
        self.check(p, Action::ManageFleet)?;
        let tags = check_tags("tags", tags)?;
        let result = self.store.write(|tx| {
            let mut a = agent_in(tx, p, id)?.ok_or(FleetError::NotFound)?;
            a.tags = tags.clone();
            tx.put_row(Table::Agents, &a.id.0, &a)?;
            let event = AuditEvent::AgentTagsChanged {
                agent: a.id.0.clone(),
                tags,
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(a)
        });
        self.denied(p, ctx, id, result)
    }

    /// Deactivates an agent (admins): its certificate is refused from now on and its live
    /// connection is closed. Deactivating an inactive agent changes nothing.
    pub fn deactivate(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<AgentRow, FleetError> {
        self.check(p, Action::ManageFleet)?;
        let now = self.now().unix_timestamp();
        let result = self.store.write(|tx| {
            let mut a = agent_in(tx, p, id)?.ok_or(FleetError::NotFound)?;
            if a.status == AgentStatus::Active {
                a.status = AgentStatus::Deactivated;
                a.deactivated = Some(now);
                tx.put_row(Table::Agents, &a.id.0, &a)?;
                let event = AuditEvent::AgentDeactivated {
                    agent: a.id.0.clone(),
                };
                self.audit.append(tx, ctx, &event)?;
            }
            Ok(a)
        });
        let a = self.denied(p, ctx, id, result)?;
        self.revoke(&a.id);
        Ok(a)
    }

    /// Deactivates agent `id` in any team: break-glass on the server host (`tundra fleet
    /// deactivate`), audited as `local-cli`.
    pub fn deactivate_local(&self, ctx: &AuditContext, id: &str) -> Result<AgentRow, FleetError> {
        if !AgentId::is_well_formed(id) {
            return Err(FleetError::NotFound);
        }
        let now = self.now().unix_timestamp();
        let a = self.store.write(|tx| {
            let mut a = tx
                .row::<AgentRow>(Table::Agents, id)?
                .ok_or(FleetError::NotFound)?;
            if a.status == AgentStatus::Active {
                a.status = AgentStatus::Deactivated;
                a.deactivated = Some(now);
                tx.put_row(Table::Agents, &a.id.0, &a)?;
                let ctx = AuditContext {
                    team: Some(a.team.clone()),
                    ..ctx.clone()
                };
                let event = AuditEvent::AgentDeactivated {
                    agent: a.id.0.clone(),
                };
                self.audit.append(tx, &ctx, &event)?;
            }
            Ok::<_, FleetError>(a)
        })?;
        self.revoke(&a.id);
        Ok(a)
    }

    /// Deletes an agent with its health history (admins, after a password confirmation).
    pub fn delete(&self, p: &Principal, ctx: &AuditContext, id: &str) -> Result<(), FleetError> {
        self.check(p, Action::ManageFleet)?;
        if !p.reauthenticated(self.now().unix_timestamp()) {
            return Err(FleetError::ReauthRequired);
        }
        let result = self.store.write(|tx| {
            let a = agent_in(tx, p, id)?.ok_or(FleetError::NotFound)?;
            tx.delete_row(Table::Agents, &a.id.0)?;
            tx.delete_row(Table::TeamAgents, &team_key(&a.team, &a.id.0))?;
            for r in [Resolution::Raw, Resolution::Coarse] {
                tx.delete_samples_before(r, &a.id.0, u64::MAX)?;
            }
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::AgentDeleted {
                    agent: a.id.0.clone(),
                },
            )?;
            Ok(a)
        });
        let a = self.denied(p, ctx, id, result)?;
        self.revoke(&a.id);
        Ok(())
    }

    /// The team's newest audit events (at most `want`, among the last 2,000 records), for
    /// the dashboard.
    pub fn recent_events(
        &self,
        p: &Principal,
        want: usize,
    ) -> Result<Vec<crate::audit::Record>, FleetError> {
        self.check(p, Action::View)?;
        let records = self
            .store
            .read(|tx| crate::audit::recent_for_team(tx, p.team(), 2000, want))?;
        Ok(records)
    }

    /// Records when a connected agent went away.
    pub fn mark_disconnected(&self, agent: &AgentId, at_unix: i64) -> Result<(), FleetError> {
        self.store.write(|tx| {
            if let Some(mut a) = tx.row::<AgentRow>(Table::Agents, &agent.0)? {
                a.last_seen = Some(at_unix);
                tx.put_row(Table::Agents, &agent.0, &a)?;
            }
            Ok(())
        })
    }

    /// Refuses principals whose role does not allow `action` (or who must enroll 2FA).
    pub(super) fn check(&self, p: &Principal, action: Action) -> Result<(), FleetError> {
        p.check_can_act()?;
        if !allows(p.role(), action) {
            return Err(FleetError::Forbidden);
        }
        Ok(())
    }

    /// Audits a `NotFound` for `id` as `access.denied` (saying, in the record only, whether
    /// it exists in another team or outside `p`'s agent scope) and passes the result through.
    pub(super) fn denied<T>(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
        result: Result<T, FleetError>,
    ) -> Result<T, FleetError> {
        if let Err(FleetError::NotFound) = &result {
            let found = if AgentId::is_well_formed(id) {
                self.store
                    .read(|tx| tx.row::<AgentRow>(Table::Agents, id))?
            } else {
                None
            };
            let target = format!("agent:{}", id.chars().take(80).collect::<String>());
            // Re-read after the refusal: a concurrent change can only alter the record's
            // wording, never the refusal. A row reachable now changed in between (deleted,
            // re-tagged); it is recorded as `missing`.
            let reason = match found {
                Some(a) if a.team != *p.team() => "other_team",
                Some(a) if !p.agent_scope().allows(&a.id.0, &a.tags) => "out_of_scope",
                _ => "missing",
            };
            let event = AuditEvent::AccessDenied {
                target,
                reason: reason.into(),
            };
            self.audit.append_denial(&self.store, ctx, &event)?;
        }
        result
    }
}
