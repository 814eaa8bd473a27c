//! Plain domain types shared by every layer: ids and actors. No behaviour beyond parsing and
//! formatting.

pub mod acceptance;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who did something, as recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in user.
    User(String),
    /// An API token (by token id, never its value).
    ApiToken(String),
    /// An enrolled agent.
    Agent(String),
    /// Break-glass administration on the server host (`tundra init`, `tundra user …`).
    LocalCli,
    /// The appliance itself (schedules, expiry).
    System,
    /// An unauthenticated peer (failed logins, bad handshakes).
    Anonymous,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::ApiToken(id) => write!(f, "token:{id}"),
            Actor::Agent(id) => write!(f, "agent:{id}"),
            Actor::LocalCli => f.write_str("local-cli"),
            Actor::System => f.write_str("system"),
            Actor::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// A team (tenant) id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TeamId(pub String);

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agent id (`agt_` and 26 lowercase hex characters; also its certificate's CN).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

impl AgentId {
    /// Whether `s` has the shape of an agent id (checked before any lookup).
    pub fn is_well_formed(s: &str) -> bool {
        s.strip_prefix("agt_").is_some_and(|h| {
            h.len() == 26
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is a well-formed agent tag: 1–32 characters of `a-z 0-9 - _ . :`. The one
/// rule for tags, wherever they are given (enrollment, the fleet, ACL policies).
pub fn is_well_formed_tag(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
}

/// A member's role in one team, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum Role {
    /// Reads the fleet and the team's audit log.
    Viewer,
    /// Also runs commands, shells and tunnels (subject to policy).
    Operator,
    /// Also manages the fleet, policies, webhooks and non-owner members.
    Admin,
    /// Everything, including deleting the team and transferring ownership.
    Owner,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer];

    /// The role's name as users type it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?} is not a role (owner, admin, operator, viewer)"))
    }
}
