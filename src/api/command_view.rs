//! Commands as the API shows them (lists, one command, approvals).

use base64::Engine as _;
use serde::Serialize;

use crate::commands::{CommandRow, CommandStatus, Commands};

/// Why the pipeline refused a command.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockedView {
    /// `acl` or `engine`.
    stage: String,
    /// The rule that decided.
    rule: String,
    /// For people.
    reason: String,
}

/// A command's approval.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    /// Why it needs one.
    reason: String,
    /// Unix seconds after which it can no longer be approved.
    expires: i64,
    /// Who approved or denied it.
    decided_by: Option<String>,
    /// Unix seconds of the decision.
    decided: Option<i64>,
}

/// How a command ended.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResultView {
    /// The exit code, when it exited on its own.
    exit_code: Option<i32>,
    /// The signal that ended it.
    signal: Option<i32>,
    /// Unix milliseconds it started on the agent.
    started_ms: i64,
    /// Unix milliseconds it ended on the agent.
    finished_ms: i64,
    /// How long it ran, in milliseconds.
    duration_ms: i64,
    /// Bytes of stdout kept.
    stdout_bytes: u64,
    /// Bytes of stderr kept.
    stderr_bytes: u64,
    /// Output beyond the cap was dropped.
    truncated: bool,
    /// What the agent said (refusals, clamped timeouts).
    message: String,
    /// Hex SHA-256 of stdout, as signed by the agent.
    stdout_sha256: String,
    /// Hex SHA-256 of stderr, as signed by the agent.
    stderr_sha256: String,
    /// The agent's Ed25519 signature of the result (hex).
    agent_signature: String,
    /// The stored output matches the agent's digests.
    output_complete: bool,
}

/// The approved script a command runs.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScriptRefView {
    name: String,
    version: u32,
    sha256: String,
}

/// A command.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommandView {
    /// `cmd_…`.
    id: String,
    /// The agent it runs on.
    agent: String,
    /// The agent's name.
    agent_name: String,
    /// The caller's idempotency key.
    request_id: String,
    /// The id shared by the commands of one request by tag.
    batch: Option<String>,
    /// The command text.
    command: String,
    /// The approved script it runs.
    script: Option<ScriptRefView>,
    /// `blocked`, `pending_approval`, `denied`, `expired`, `queued`, `running`,
    /// `completed`, `timed_out`, `refused`, `failed` or `interrupted`.
    status: String,
    /// Nothing more will happen to it.
    #[serde(rename = "final")]
    is_final: bool,
    /// The engine's 0–100 risk score.
    risk_score: u8,
    /// `silent`, `elevated` or `blocked`.
    level: String,
    /// Every pipeline stage's decision.
    #[schema(value_type = Object)]
    decision: serde_json::Value,
    /// Why it was refused.
    blocked: Option<BlockedView>,
    /// Its approval.
    approval: Option<ApprovalView>,
    /// Who asked for it.
    requested_by: String,
    /// Unix seconds it was made.
    created: i64,
    /// Seconds the agent lets it run.
    timeout_s: u32,
    /// How it ended.
    result: Option<ResultView>,
    /// Its stdout (UTF-8, invalid bytes replaced; only when one command is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<String>,
    /// Its stderr (as `stdout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<String>,
    /// Its stdout, base64 (with `?encoding=base64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_base64: Option<String>,
    /// Its stderr, base64 (with `?encoding=base64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr_base64: Option<String>,
}

/// How output goes into a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text, invalid bytes replaced.
    Text,
    /// Base64 of the exact bytes.
    Base64,
}

impl CommandView {
    /// The view of `row`; "running" when a connected agent holds it.
    pub fn new(row: CommandRow, commands: &Commands) -> Self {
        let status = if row.status == CommandStatus::Queued && commands.is_running(&row.id) {
            "running".to_string()
        } else {
            row.status.as_str().to_string()
        };
        Self {
            is_final: row.status.is_final(),
            status,
            id: row.id,
            agent: row.agent.0,
            agent_name: row.agent_name,
            request_id: row.request_id,
            batch: row.batch,
            command: row.command,
            script: row.script.map(|s| ScriptRefView {
                name: s.name,
                version: s.version,
                sha256: s.sha256,
            }),
            risk_score: row.risk_score,
            level: row.level,
            decision: row.decision,
            blocked: row.blocked.map(|b| BlockedView {
                stage: b.stage,
                rule: b.rule,
                reason: b.reason,
            }),
            approval: row.approval.map(|a| ApprovalView {
                reason: a.reason,
                expires: a.expires_ms / 1000,
                decided_by: a.decided_by,
                decided: a.decided_ms.map(|d| d / 1000),
            }),
            requested_by: row.requester_email,
            created: row.created_ms / 1000,
            timeout_s: row.timeout_s,
            result: row.result.map(|r| ResultView {
                exit_code: r.exit_code,
                signal: r.signal,
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
                duration_ms: r.finished_ms.saturating_sub(r.started_ms),
                stdout_bytes: r.stdout_len,
                stderr_bytes: r.stderr_len,
                truncated: r.truncated,
                message: r.message,
                stdout_sha256: r.stdout_sha256,
                stderr_sha256: r.stderr_sha256,
                agent_signature: r.agent_signature,
                output_complete: r.output_complete,
            }),
            stdout: None,
            stderr: None,
            stdout_base64: None,
            stderr_base64: None,
        }
    }

    /// Adds the output.
    pub fn with_output(mut self, stdout: &[u8], stderr: &[u8], encoding: Encoding) -> Self {
        match encoding {
            Encoding::Text => {
                self.stdout = Some(String::from_utf8_lossy(stdout).into_owned());
                self.stderr = Some(String::from_utf8_lossy(stderr).into_owned());
            }
            Encoding::Base64 => {
                let b64 = base64::engine::general_purpose::STANDARD;
                self.stdout_base64 = Some(b64.encode(stdout));
                self.stderr_base64 = Some(b64.encode(stderr));
            }
        }
        self
    }
}
