//! A team's ACL policy (SPEC §4 "Commands", step 1): who may run what kind of action on which
//! agents, and when. Asked before any command is dispatched and before any shell or tunnel
//! is connected.
//!
//! [`AclPolicy::evaluate`] checks, in this order, and its [`AclDecision`] names the first step
//! that fails (or, when every step passes, the rule that let the agent through):
//! 1. **Role** (`role_not_allowed`): the member's role must be listed in `roles` for the
//!    action kind (`exec`, `shell`, `tunnel`; each defaults to owner, admin, operator). An
//!    empty list means nobody may take that kind of action. A role the RBAC matrix does not
//!    let operate (viewer) is denied whatever the policy says, and a policy listing it is
//!    refused by [`AclPolicy::validate`].
//! 2. **Block list** (`blocklisted`): an agent named in `block_agents`, by its id or by any of
//!    its tags (`tag:NAME`), is denied. Block wins over allow.
//! 3. **Allow list or default** (`allowlisted`, `default_allow`, `not_allowlisted`): an agent
//!    named in `allow_agents` passes; any other agent passes when `default` is `allow` and is
//!    denied when it is `deny`.
//! 4. **Time windows** (`outside_time_window`): if `windows` is not empty, `now` must fall in
//!    at least one of them, on the wall clock of the window's own time zone (see
//!    [`TimeWindow`]). A window whose zone cannot be resolved never matches: fail closed.
//!
//! The policy is plain data: JSON with every field optional, so `{}` is the default policy
//! (allow every agent, owners/admins/operators for every kind, any time). Serde refuses
//! unknown fields and roles; [`AclPolicy::validate`] checks the rest and names the field.
//! `evaluate` is pure: `now` is a parameter and the tz database is compiled in.

mod validate;
mod window;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::rbac::{self, Action};
use crate::model::Role;

pub use validate::{MAX_AGENT_ENTRIES, MAX_WINDOWS};
pub use window::TimeWindow;

/// A team's ACL. `Default` (and the JSON `{}`) is the default policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AclPolicy {
    /// What happens to an agent on neither list.
    pub default: DefaultMode,
    /// Agents that pass the agent step: agent ids (`agt_…`) or `tag:NAME`.
    #[schema(example = json!(["agt_0123456789abcdef0123456789", "tag:web"]))]
    pub allow_agents: Vec<String>,
    /// Agents that are always denied, by id or `tag:NAME`; wins over `allow_agents`.
    #[schema(example = json!(["tag:prod-db"]))]
    pub block_agents: Vec<String>,
    /// Which roles may take each kind of action.
    pub roles: KindRoles,
    /// When actions may run; empty: any time.
    pub windows: Vec<TimeWindow>,
}

impl Default for AclPolicy {
    fn default() -> Self {
        Self {
            default: DefaultMode::Allow,
            allow_agents: Vec::new(),
            block_agents: Vec::new(),
            roles: KindRoles::default(),
            windows: Vec::new(),
        }
    }
}

/// What the ACL does with an agent on neither list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultMode {
    /// Every agent not blocklisted passes the agent step.
    Allow,
    /// Only allowlisted agents pass the agent step.
    Deny,
}

/// The roles allowed per action kind. A kind left out of the JSON keeps its default (owner,
/// admin, operator); an empty list means nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KindRoles {
    /// Who may run non-interactive commands.
    pub exec: Vec<Role>,
    /// Who may open shells.
    pub shell: Vec<Role>,
    /// Who may open tunnels.
    pub tunnel: Vec<Role>,
}

impl Default for KindRoles {
    fn default() -> Self {
        let operators = || vec![Role::Owner, Role::Admin, Role::Operator];
        Self {
            exec: operators(),
            shell: operators(),
            tunnel: operators(),
        }
    }
}

impl KindRoles {
    /// The roles listed for `kind`.
    pub fn for_kind(&self, kind: ActionKind) -> &[Role] {
        match kind {
            ActionKind::Exec => &self.exec,
            ActionKind::Shell => &self.shell,
            ActionKind::Tunnel => &self.tunnel,
        }
    }
}

/// The kind of action the ACL is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A non-interactive command.
    Exec,
    /// An interactive shell.
    Shell,
    /// A TCP tunnel to a port on the agent's host.
    Tunnel,
}

impl ActionKind {
    /// Every kind, in the order of [`KindRoles`]' fields.
    pub const ALL: [ActionKind; 3] = [ActionKind::Exec, ActionKind::Shell, ActionKind::Tunnel];

    /// The kind's name, as in the policy's `roles` object.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Exec => "exec",
            ActionKind::Shell => "shell",
            ActionKind::Tunnel => "tunnel",
        }
    }
}

/// What the ACL is asked.
#[derive(Debug, Clone, Copy)]
pub struct AclRequest<'a> {
    /// What the member wants to do.
    pub kind: ActionKind,
    /// The member's role in the team.
    pub role: Role,
    /// The target agent's id.
    pub agent_id: &'a str,
    /// The target agent's tags (as the fleet stores them: lowercase).
    pub agent_tags: &'a [String],
    /// The time of the request.
    pub now: time::OffsetDateTime,
}

/// The ACL's answer; serializes into the audit record's `policy_result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclDecision {
    /// Whether the action may proceed to the next step of the pipeline.
    pub allowed: bool,
    /// Machine-readable: "blocklisted", "allowlisted", "default_allow", "not_allowlisted",
    /// "role_not_allowed", "outside_time_window".
    pub rule: &'static str,
    /// For people, naming what decided, e.g. "agent is blocklisted by tag:prod-db",
    /// "outside the allowed time windows (now Sat 23:10 Europe/Berlin)".
    pub reason: String,
}

impl AclDecision {
    fn deny(rule: &'static str, reason: String) -> Self {
        Self {
            allowed: false,
            rule,
            reason,
        }
    }
}

/// Why a policy was refused: the exact field (a JSON path like `windows[1].time_zone`,
/// `block_agents[0]`, `roles.exec[2]`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyInvalid {
    /// JSON path of the offending value, relative to the ACL object.
    pub field: String,
    /// What is wrong with it, for people.
    pub reason: String,
}

impl AclPolicy {
    /// Checks what serde cannot: agent entries are a well-formed agent id
    /// (`crate::model::AgentId::is_well_formed`) or `tag:` + a valid tag (1–32 chars of
    /// a-z 0-9 - _ . :), no duplicates, at most 500 entries per list; roles known and not
    /// viewer, no duplicates; windows: at most 50, days are mon..sun (no duplicates, at least
    /// one), times valid, from != to, the time zone exists in the tz database.
    /// The first problem found, in field order, is returned.
    pub fn validate(&self) -> Result<(), PolicyInvalid> {
        validate::policy(self)
    }

    /// The decision for one request (assumes `validate` passed; a window whose zone cannot
    /// be resolved counts as not matching — fail closed).
    pub fn evaluate(&self, req: &AclRequest<'_>) -> AclDecision {
        let kind = req.kind.as_str();
        let listed = self.roles.for_kind(req.kind);
        if !rbac::allows(req.role, Action::Operate) || !listed.contains(&req.role) {
            let allowed = if listed.is_empty() {
                "nobody".to_string()
            } else {
                listed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return AclDecision::deny(
                "role_not_allowed",
                format!("role {} may not {kind} (allowed: {allowed})", req.role),
            );
        }
        if let Some(entry) = matching(&self.block_agents, req) {
            return AclDecision::deny("blocklisted", format!("agent is blocklisted by {entry}"));
        }
        let (rule, mut reason) = match (matching(&self.allow_agents, req), self.default) {
            (Some(entry), _) => ("allowlisted", format!("agent is allowlisted by {entry}")),
            (None, DefaultMode::Allow) => (
                "default_allow",
                "agent is not on the allowlist; the default is allow".to_string(),
            ),
            (None, DefaultMode::Deny) => {
                return AclDecision::deny(
                    "not_allowlisted",
                    "agent is not on the allowlist and the default is deny".to_string(),
                );
            }
        };
        if !self.windows.is_empty() {
            match self
                .windows
                .iter()
                .enumerate()
                .find(|(_, w)| w.contains(req.now))
            {
                Some((i, w)) => {
                    let now = window::describe_now(req.now, &w.time_zone);
                    reason.push_str(&format!("; inside windows[{i}] (now {now})"));
                }
                None => {
                    return AclDecision::deny(
                        "outside_time_window",
                        format!(
                            "outside the allowed time windows (now {})",
                            self.local_nows(req.now)
                        ),
                    );
                }
            }
        }
        AclDecision {
            allowed: true,
            rule,
            reason,
        }
    }

    /// `now` in each distinct zone the windows use, for a reason.
    fn local_nows(&self, now: time::OffsetDateTime) -> String {
        let mut zones: Vec<&str> = Vec::new();
        for w in &self.windows {
            if !zones.contains(&w.time_zone.as_str()) {
                zones.push(&w.time_zone);
            }
        }
        zones
            .into_iter()
            .map(|z| window::describe_now(now, z))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first entry of `list` naming the request's agent, by id or by one of its tags.
fn matching<'p>(list: &'p [String], req: &AclRequest<'_>) -> Option<&'p str> {
    list.iter()
        .find(|entry| match entry.strip_prefix(validate::TAG_PREFIX) {
            Some(tag) => req.agent_tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
            None => entry.as_str() == req.agent_id,
        })
        .map(|entry| entry.as_str())
}

/// A user-supplied value for a message: quoted, and cut short so a huge input cannot make a
/// huge error.
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}
