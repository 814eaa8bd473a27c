//! The parts of the appliance's JSON the CLI reads. Each struct takes only the fields it
//! needs and ignores the rest, so a newer appliance that adds fields keeps working.

use serde::{Deserialize, Deserializer};

use crate::crypto::Secret;

/// `GET /api/v1/me`.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    /// The user.
    pub user: MeUser,
    /// The active team.
    pub team: MeTeam,
    /// The role in it (as the token or session acts).
    pub role: String,
    /// The user must enroll two-factor before acting.
    #[serde(default)]
    pub two_factor_required: bool,
}

/// `me.user`.
#[derive(Debug, Clone, Deserialize)]
pub struct MeUser {
    /// `usr_…`.
    pub id: String,
    /// The email.
    pub email: String,
}

/// `me.team`.
#[derive(Debug, Clone, Deserialize)]
pub struct MeTeam {
    /// The team id.
    pub id: String,
}

/// The answer to `POST /api/v1/tokens`: the value, shown this once.
#[derive(Debug, Deserialize)]
pub struct IssuedToken {
    /// `tok_…`.
    pub id: String,
    /// The value (`tnd_live_…`).
    #[serde(deserialize_with = "secret")]
    pub token: Secret<String>,
    /// The role it was given.
    pub role: String,
    /// Unix seconds of expiry, if any.
    #[serde(default)]
    pub expires: Option<i64>,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
    String::deserialize(d).map(Secret::new)
}

/// `GET /api/v1/agents`.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentList {
    /// The agents the caller may see.
    pub agents: Vec<Agent>,
}

/// An agent as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct Agent {
    /// `agt_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The host name it reported.
    #[serde(default)]
    pub hostname: String,
    /// The agent version it reported.
    #[serde(default)]
    pub version: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `active` or `deactivated`.
    #[serde(default)]
    pub status: String,
    /// Connected now.
    #[serde(default)]
    pub online: bool,
    /// Unix seconds it was last known to be there.
    #[serde(default)]
    pub last_seen: Option<i64>,
}

impl Agent {
    /// `online`, `offline` or `deactivated`.
    pub fn state(&self) -> &'static str {
        if self.status == "deactivated" {
            "deactivated"
        } else if self.online {
            "online"
        } else {
            "offline"
        }
    }
}

/// The answer to `POST /api/v1/commands` (by tag).
#[derive(Debug, Clone, Deserialize)]
pub struct Batch {
    /// One command per agent.
    pub commands: Vec<Command>,
}

/// A command as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Command {
    /// `cmd_…`.
    pub id: String,
    /// The agent's id.
    pub agent: String,
    /// The agent's name.
    #[serde(default)]
    pub agent_name: String,
    /// `blocked`, `pending_approval`, `queued`, `running`, `completed`, ….
    pub status: String,
    /// Nothing more will happen to it.
    #[serde(rename = "final", default)]
    pub is_final: bool,
    /// Why the pipeline refused it.
    #[serde(default)]
    pub blocked: Option<Blocked>,
    /// Its approval, when it needs one.
    #[serde(default)]
    pub approval: Option<Approval>,
    /// How it ended.
    #[serde(default)]
    pub result: Option<CommandResult>,
    /// Its stdout, base64 (with `?encoding=base64`).
    #[serde(default)]
    pub stdout_base64: Option<String>,
    /// Its stderr, base64.
    #[serde(default)]
    pub stderr_base64: Option<String>,
}

/// `command.blocked`.
#[derive(Debug, Clone, Deserialize)]
pub struct Blocked {
    /// `acl` or `engine`.
    #[serde(default)]
    pub stage: String,
    /// The rule that decided.
    #[serde(default)]
    pub rule: String,
    /// For people.
    #[serde(default)]
    pub reason: String,
}

/// `command.approval`.
#[derive(Debug, Clone, Deserialize)]
pub struct Approval {
    /// Why it needs one.
    #[serde(default)]
    pub reason: String,
    /// Unix seconds after which it can no longer be approved.
    #[serde(default)]
    pub expires: i64,
    /// Who decided.
    #[serde(default)]
    pub decided_by: Option<String>,
}

/// `command.result`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandResult {
    /// The exit code, when it exited on its own.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Output beyond the appliance's cap was dropped.
    #[serde(default)]
    pub truncated: bool,
    /// What the agent said.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_are_ignored_and_missing_optional_ones_defaulted() {
        let c: Command = serde_json::from_str(
            r#"{"id":"cmd_1","agent":"agt_1","status":"queued","final":false,
                "risk_score":3,"future_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!((c.id.as_str(), c.is_final), ("cmd_1", false));
        assert!(c.result.is_none() && c.blocked.is_none());
        let t: IssuedToken = serde_json::from_str(
            r#"{"id":"tok_1","token":"tnd_live_x","name":"n","role":"operator","expires":5}"#,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "tnd_live_x");
        assert!(!format!("{t:?}").contains("tnd_live_x"));
    }
}
