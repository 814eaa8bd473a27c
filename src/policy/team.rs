//! A team's whole policy document: its ACL, the risk score at which commands need an
//! approval, and the engine rules it adds to the built-in ones. `GET/PUT /api/v1/policy`
//! carry it as JSON; `validate` names the exact field at fault.

use serde::{Deserialize, Serialize};

use super::acl::{AclPolicy, PolicyInvalid};
use super::engine::{validate_rules, RuleSpec};

/// Commands at or above this risk score need an approval unless the team says otherwise.
pub const DEFAULT_APPROVAL_THRESHOLD: u8 = 40;
/// Agents carrying this tag need an approval for every command.
pub const APPROVAL_TAG: &str = "require-approval";
/// The largest policy document accepted, as JSON.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// A team's policy. `{}` is valid and means the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TeamPolicy {
    /// Who may run what on which agents, and when.
    pub acl: AclPolicy,
    /// Commands whose risk score is at least this (1–100) wait for an owner or admin other
    /// than the requester.
    pub approval_threshold: u8,
    /// The team's own engine rules, added to the built-in ones (same schema).
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<RuleSpec>,
}

impl Default for TeamPolicy {
    fn default() -> Self {
        Self {
            acl: AclPolicy::default(),
            approval_threshold: DEFAULT_APPROVAL_THRESHOLD,
            rules: Vec::new(),
        }
    }
}

impl TeamPolicy {
    /// Checks every part; the error's field is a path from the document's root
    /// (`acl.windows[0].time_zone`, `approval_threshold`, `rules[2].args`).
    pub fn validate(&self) -> Result<(), PolicyInvalid> {
        self.acl.validate().map_err(|e| PolicyInvalid {
            field: format!("acl.{}", e.field),
            reason: e.reason,
        })?;
        if !(1..=100).contains(&self.approval_threshold) {
            return Err(PolicyInvalid {
                field: "approval_threshold".into(),
                reason: "must be between 1 and 100".into(),
            });
        }
        validate_rules(&self.rules).map_err(|e| PolicyInvalid {
            field: format!("rules[{}].{}", e.index, e.field),
            reason: e.reason,
        })
    }
}
