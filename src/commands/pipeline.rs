//! The policy pipeline's decisions for one command on one agent, in order: ACL → command
//! security engine → approval gate. (The rate limit, the fourth stage, needs the member's
//! history and is applied by the service right after.) Each stage is a pure decision; the
//! first refusal ends the pipeline and the stages after it are not reached. Every decision
//! made is recorded — in the command's row and its audit record's `policy_result`.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::rows::BlockInfo;
use crate::model::Role;
use crate::policy::acl::{AclRequest, ActionKind};
use crate::policy::engine::{Engine, BLOCK_SCORE};
use crate::policy::{TeamPolicy, APPROVAL_TAG};

/// What the pipeline judges.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The requester's role in the team.
    pub role: Role,
    /// The target agent.
    pub agent_id: &'a str,
    /// Its tags.
    pub agent_tags: &'a [String],
    /// The command text.
    pub command: &'a str,
    /// Whether it is a script from the team's approved library (skips the score
    /// threshold, never the hard blocks).
    pub library_script: bool,
    /// The time the ACL's windows are checked against.
    pub now: OffsetDateTime,
}

/// Where the pipeline sends a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Refused; never reaches the agent.
    Blocked(BlockInfo),
    /// Waits for an approval, for this reason.
    NeedsApproval(String),
    /// May run now (after the rate limit).
    Run,
}

/// The pipeline's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Where the command goes.
    pub outcome: Outcome,
    /// The engine's 0–100 score (0 when the engine was not reached).
    pub risk_score: u8,
    /// `silent`, `elevated` or `blocked`.
    pub level: &'static str,
    /// Each stage's decision, keyed by stage (`acl`, `engine`, `approval`).
    pub decision: Value,
}

/// Runs the ACL, the engine and the approval gate for `facts` under `policy`, with the
/// team's `engine` (built-in rules plus its own).
pub fn evaluate(policy: &TeamPolicy, engine: &Engine, facts: &Facts<'_>) -> Evaluation {
    let acl = policy.acl.evaluate(&AclRequest {
        kind: ActionKind::Exec,
        role: facts.role,
        agent_id: facts.agent_id,
        agent_tags: facts.agent_tags,
        now: facts.now,
    });
    let mut decision = json!({ "acl": acl });
    if !acl.allowed {
        return Evaluation {
            outcome: Outcome::Blocked(BlockInfo {
                stage: "acl".into(),
                rule: acl.rule.into(),
                reason: acl.reason,
            }),
            risk_score: 0,
            level: "blocked",
            decision,
        };
    }

    let verdict = engine.judge(facts.command);
    let score_blocks = verdict.score >= BLOCK_SCORE && !facts.library_script;
    decision["engine"] = json!({
        "blocked": verdict.hard_block.is_some() || score_blocks,
        "level": if verdict.hard_block.is_some() || score_blocks { "blocked" } else { verdict.level() },
        "score": verdict.score,
        "hard_block": verdict.hard_block,
        "indicators": verdict.indicators,
        "library_script": facts.library_script,
    });
    if let Some(hit) = &verdict.hard_block {
        return blocked(
            decision,
            verdict.score,
            "engine",
            &hit.rule,
            hit.description.clone(),
        );
    }
    if score_blocks {
        let names: Vec<&str> = verdict.indicators.iter().map(|h| h.rule.as_str()).collect();
        let reason = format!(
            "risk score {} is at or above {BLOCK_SCORE} ({})",
            verdict.score,
            names.join(", ")
        );
        return blocked(decision, verdict.score, "engine", "risk_score", reason);
    }
    let level = verdict.level();

    let tagged = facts
        .agent_tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case(APPROVAL_TAG));
    let reason = if tagged {
        Some(format!("the agent is tagged {APPROVAL_TAG}"))
    } else if verdict.score >= policy.approval_threshold {
        Some(format!(
            "risk score {} is at or above the team's approval threshold {}",
            verdict.score, policy.approval_threshold
        ))
    } else {
        None
    };
    decision["approval"] = json!({ "required": reason.is_some(), "reason": reason });
    Evaluation {
        outcome: reason.map_or(Outcome::Run, Outcome::NeedsApproval),
        risk_score: verdict.score,
        level,
        decision,
    }
}

fn blocked(decision: Value, score: u8, stage: &str, rule: &str, reason: String) -> Evaluation {
    Evaluation {
        outcome: Outcome::Blocked(BlockInfo {
            stage: stage.into(),
            rule: rule.into(),
            reason,
        }),
        risk_score: score,
        level: "blocked",
        decision,
    }
}
