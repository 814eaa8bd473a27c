//! TEMPORARY STUB (not committed): the interface of the command security engine.
#![allow(missing_docs, dead_code)]
use serde::{Deserialize, Serialize};
pub const BLOCK_SCORE: u8 = 60;
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub id: String,
    pub description: String,
}
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rules[{index}].{field}: {reason}")]
pub struct RuleInvalid {
    pub index: usize,
    pub field: String,
    pub reason: String,
}
pub fn validate_rules(_rules: &[RuleSpec]) -> Result<(), RuleInvalid> {
    Ok(())
}
pub struct Engine;
impl Engine {
    pub fn builtin() -> Result<Engine, RuleInvalid> {
        Ok(Engine)
    }
    pub fn with_rules(&self, _extra: &[RuleSpec]) -> Result<Engine, RuleInvalid> {
        Ok(Engine)
    }
    pub fn judge(&self, command: &str) -> Verdict {
        let block = command.contains("rm -rf /");
        let score = if command.contains("curl") {
            30
        } else if command.contains("nmap") {
            70
        } else {
            0
        };
        Verdict {
            blocked: block || score >= 60,
            hard_block: block.then(|| Hit {
                rule: "root-delete".into(),
                description: "d".into(),
                weight: 100,
                part: "rm -rf /".into(),
            }),
            score: if block { 100 } else { score },
            indicators: vec![],
        }
    }
}
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub blocked: bool,
    pub hard_block: Option<Hit>,
    pub score: u8,
    pub indicators: Vec<Hit>,
}
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub rule: String,
    pub description: String,
    pub weight: u8,
    pub part: String,
}
impl Verdict {
    pub fn level(&self) -> &'static str {
        if self.blocked {
            "blocked"
        } else if self.score > 0 {
            "elevated"
        } else {
            "silent"
        }
    }
}
