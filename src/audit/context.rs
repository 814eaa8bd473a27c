//! The request-wide part of an audit record: who acted, in which team and request, and what
//! policy decided.

use std::net::IpAddr;

use crate::model::{Actor, TeamId};

/// Who acted and in which request; shared by every event of one request.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// Who did it.
    pub actor: Actor,
    /// The team it happened in, if any.
    pub team: Option<TeamId>,
    /// The HTTP request id (`X-Request-Id`) or similar correlation id.
    pub request_id: Option<String>,
    /// The peer's address.
    pub source_ip: Option<IpAddr>,
    /// The policy decision that allowed or denied the action.
    pub policy_result: Option<serde_json::Value>,
    /// The command text, for command events.
    pub command: Option<String>,
}

impl AuditContext {
    /// A context with only an actor set.
    pub fn actor(actor: Actor) -> Self {
        Self {
            actor,
            team: None,
            request_id: None,
            source_ip: None,
            policy_result: None,
            command: None,
        }
    }
}
