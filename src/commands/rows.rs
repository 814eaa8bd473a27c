//! What the command pipeline stores: one row per command (its output lives sealed in the
//! store's blob table), and one row per version of an approved script.

use serde::{Deserialize, Serialize};

use crate::model::{AgentId, TeamId, UserId};

/// Where a command stands. Stored values only; "running" is what the API shows for a
/// `queued` command its connected agent has been handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// The policy pipeline refused it; it never reached the agent.
    Blocked,
    /// It waits for an owner or admin other than the requester.
    PendingApproval,
    /// An owner or admin refused it.
    Denied,
    /// Nobody approved it in time, or its agent stayed away past the queue's lifetime.
    Expired,
    /// Accepted; waiting for (or already handed to) its agent.
    Queued,
    /// It ran to the end (`exit_code` says how).
    Completed,
    /// It ran out of time and the agent killed it.
    TimedOut,
    /// The agent's local policy refused it.
    Refused,
    /// The agent could not start it.
    Failed,
    /// The agent stopped while it ran; it is not run again.
    Interrupted,
}

impl CommandStatus {
    /// Every status, for filters and docs.
    pub const ALL: [CommandStatus; 10] = [
        CommandStatus::Blocked,
        CommandStatus::PendingApproval,
        CommandStatus::Denied,
        CommandStatus::Expired,
        CommandStatus::Queued,
        CommandStatus::Completed,
        CommandStatus::TimedOut,
        CommandStatus::Refused,
        CommandStatus::Failed,
        CommandStatus::Interrupted,
    ];

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Blocked => "blocked",
            CommandStatus::PendingApproval => "pending_approval",
            CommandStatus::Denied => "denied",
            CommandStatus::Expired => "expired",
            CommandStatus::Queued => "queued",
            CommandStatus::Completed => "completed",
            CommandStatus::TimedOut => "timed_out",
            CommandStatus::Refused => "refused",
            CommandStatus::Failed => "failed",
            CommandStatus::Interrupted => "interrupted",
        }
    }

    /// Parses [`CommandStatus::as_str`] (and `running`, which is stored as `queued`).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "running" {
            return Some(CommandStatus::Queued);
        }
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        !matches!(self, CommandStatus::PendingApproval | CommandStatus::Queued)
    }
}

/// Why the pipeline refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// `acl` or `engine`.
    pub stage: String,
    /// The rule that decided.
    pub rule: String,
    /// For people.
    pub reason: String,
}

/// A command's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalInfo {
    /// Why it needs one.
    pub reason: String,
    /// Unix milliseconds after which it can no longer be approved.
    pub expires_ms: i64,
    /// Who approved or denied it (email).
    pub decided_by: Option<String>,
    /// Unix milliseconds of the decision.
    pub decided_ms: Option<i64>,
}

/// The approved script a command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRef {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: u32,
    /// Hex SHA-256 of its content.
    pub sha256: String,
}

/// How a command ended, as its agent reported and signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// The exit code, when it exited on its own.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Unix milliseconds it started on the agent.
    pub started_ms: i64,
    /// Unix milliseconds it ended on the agent.
    pub finished_ms: i64,
    /// Bytes of stdout kept.
    pub stdout_len: u64,
    /// Bytes of stderr kept.
    pub stderr_len: u64,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
    /// What the agent said (refusals, clamped timeouts).
    pub message: String,
    /// Hex SHA-256 of the kept stdout, as the agent signed it.
    pub stdout_sha256: String,
    /// Hex SHA-256 of the kept stderr, as the agent signed it.
    pub stderr_sha256: String,
    /// The agent's signature of the result (hex).
    pub agent_signature: String,
    /// Whether the stored output matches the signed digests (it does unless a chunk was
    /// lost; then what arrived is kept and this says so).
    pub output_complete: bool,
    /// Unix milliseconds the appliance stored the result.
    pub stored_ms: i64,
}

/// One command as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRow {
    /// `cmd_` and 26 hex characters.
    pub id: String,
    /// The team it belongs to.
    pub team: TeamId,
    /// The agent it runs on.
    pub agent: AgentId,
    /// The agent's name when the command was made.
    pub agent_name: String,
    /// The requester's idempotency key (unique per agent).
    pub request_id: String,
    /// The id shared by the commands of one request to several agents (by tag).
    pub batch: Option<String>,
    /// The command text.
    pub command: String,
    /// The approved script it runs, if it is one.
    pub script: Option<ScriptRef>,
    /// Who asked for it.
    pub requested_by: UserId,
    /// Their email.
    pub requester_email: String,
    /// The actor that asked (`user:…` or `token:…`).
    pub actor: String,
    /// Unix milliseconds it was made.
    pub created_ms: i64,
    /// Where it stands.
    pub status: CommandStatus,
    /// The engine's 0–100 risk score.
    pub risk_score: u8,
    /// `silent`, `elevated` or `blocked`.
    pub level: String,
    /// Every pipeline stage's decision (the audit record's `policy_result`).
    pub decision: serde_json::Value,
    /// Why it was refused, when it was.
    pub blocked: Option<BlockInfo>,
    /// Its approval, when it needs one.
    pub approval: Option<ApprovalInfo>,
    /// Seconds the agent lets it run.
    pub timeout_s: u32,
    /// Bytes of output kept at most.
    pub output_cap: u64,
    /// Unix milliseconds after which an undelivered command expires.
    pub queue_expires_ms: Option<i64>,
    /// How it ended.
    pub result: Option<ResultInfo>,
    /// Unix milliseconds of the last change.
    pub updated_ms: i64,
}

/// One version of a script in a team's approved library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRow {
    /// The team whose library it is in.
    pub team: TeamId,
    /// Its name (a-z 0-9 - _ .).
    pub name: String,
    /// 1, 2, … per name.
    pub version: u32,
    /// What it does, for people.
    pub description: String,
    /// The script text (run with `/bin/sh -c`).
    pub content: String,
    /// Hex SHA-256 of `content`.
    pub sha256: String,
    /// The owner or admin who approved it (email).
    pub approved_by: String,
    /// Unix milliseconds of the approval.
    pub approved_ms: i64,
    /// The engine's risk score when it was approved.
    pub risk_score: u8,
    /// Retired scripts cannot run.
    pub retired: bool,
}
