//! TEMPORARY STUB (not committed).
#![allow(missing_docs, dead_code)]
use serde::{Deserialize, Serialize};
use crate::model::Role;
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AclPolicy { pub block_agents: Vec<String> }
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionKind { Exec, Shell, Tunnel }
pub struct AclRequest<'a> { pub kind: ActionKind, pub role: Role, pub agent_id: &'a str, pub agent_tags: &'a [String], pub now: time::OffsetDateTime }
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclDecision { pub allowed: bool, pub rule: &'static str, pub reason: String }
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyInvalid { pub field: String, pub reason: String }
impl AclPolicy {
    pub fn validate(&self) -> Result<(), PolicyInvalid> { Ok(()) }
    pub fn evaluate(&self, req: &AclRequest<'_>) -> AclDecision {
        let blocked = req.agent_tags.iter().any(|t| self.block_agents.contains(&format!("tag:{t}")));
        AclDecision { allowed: !blocked, rule: if blocked {"blocklisted"} else {"default_allow"}, reason: String::new() }
    }
}
