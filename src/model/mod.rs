//! Plain domain types shared by every layer: ids and actors. No behaviour beyond parsing and
//! formatting.

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
