//! The `Connect` hello check (SPEC §4 "Agent connection"): the agent proves it holds its
//! identity key, and that this hello is fresh — its timestamp is within ±60 s and newer than
//! the last accepted one, and its nonce is not the last one used. A replayed hello fails the
//! timestamp check even after a restart, because the floor is stored.

use super::agents::AgentRow;
use super::enroll::MAX_SKEW_MS;
use super::{Fleet, FleetError};
use crate::audit::{AuditContext, AuditEvent};
use crate::config::parse_version;
use crate::model::{Actor, AgentId, TeamId};
use crate::proto::agent::{Hello, HELLO_DOMAIN};
use crate::store::Table;

/// Why a hello was refused (also the audit record's `reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeRefusal {
    /// Protocol version 0 or otherwise unusable.
    UnsupportedProtocol,
    /// The hello names another agent than the certificate.
    AgentMismatch,
    /// The agent is no longer active.
    Revoked,
    /// The signature does not verify with the enrolled identity key.
    BadSignature,
    /// The timestamp is more than 60 s away from the appliance's clock.
    ClockSkew,
    /// The timestamp is not newer than the last accepted one (a replay).
    StaleTimestamp,
    /// The nonce was used by the last accepted hello, or is malformed.
    ReplayedNonce,
    /// The agent is older than `min_agent_version`; it must update.
    UpdateRequired {
        /// The lowest accepted version.
        min_version: String,
    },
    /// Too many handshakes from this agent or address.
    RateLimited,
}

impl HandshakeRefusal {
    /// The machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            HandshakeRefusal::UnsupportedProtocol => "unsupported_protocol",
            HandshakeRefusal::AgentMismatch => "agent_mismatch",
            HandshakeRefusal::Revoked => "revoked",
            HandshakeRefusal::BadSignature => "bad_signature",
            HandshakeRefusal::ClockSkew => "clock_skew",
            HandshakeRefusal::StaleTimestamp => "stale_timestamp",
            HandshakeRefusal::ReplayedNonce => "replayed_nonce",
            HandshakeRefusal::UpdateRequired { .. } => "update_required",
            HandshakeRefusal::RateLimited => "rate_limited",
        }
    }
}

/// An accepted hello.
#[derive(Debug, Clone)]
pub struct HelloAccepted {
    /// The agent.
    pub agent: AgentId,
    /// Its team.
    pub team: TeamId,
}

impl Fleet {
    /// Checks the hello of the agent whose certificate CN is `cert_agent`. Refusals are
    /// audited (with `ctx`'s source address); acceptance moves the replay floor.
    pub fn accept_hello(
        &self,
        ctx: &AuditContext,
        cert_agent: &str,
        hello: &Hello,
    ) -> Result<Result<HelloAccepted, HandshakeRefusal>, FleetError> {
        let outcome = self.check_hello(cert_agent, hello);
        match &outcome {
            Ok(_) => self.store.write(|tx| {
                if let Some(mut a) = tx.row::<AgentRow>(Table::Agents, cert_agent)? {
                    a.last_hello_ms = hello.timestamp_ms;
                    a.version = hello.agent_version.chars().take(32).collect();
                    tx.put_row(Table::Agents, cert_agent, &a)?;
                }
                Ok::<_, FleetError>(())
            })?,
            Err(refusal) => self.refused(ctx, cert_agent, refusal)?,
        }
        Ok(outcome)
    }

    /// Audits a handshake refused before the hello could be checked (e.g. rate limits).
    pub fn refused(
        &self,
        ctx: &AuditContext,
        cert_agent: &str,
        refusal: &HandshakeRefusal,
    ) -> Result<(), FleetError> {
        let team = self
            .active
            .read()
            .ok()
            .and_then(|m| m.get(cert_agent).map(|a| TeamId(a.team.clone())));
        let ctx = AuditContext {
            actor: Actor::Agent(cert_agent.to_string()),
            team,
            ..ctx.clone()
        };
        let event = AuditEvent::AgentHandshakeRefused {
            agent: cert_agent.to_string(),
            reason: refusal.code().into(),
        };
        self.audit.append_denial(&self.store, &ctx, &event)?;
        Ok(())
    }

    fn check_hello(&self, cert_agent: &str, h: &Hello) -> Result<HelloAccepted, HandshakeRefusal> {
        if h.protocol_version == 0 {
            return Err(HandshakeRefusal::UnsupportedProtocol);
        }
        if h.agent_id != cert_agent {
            return Err(HandshakeRefusal::AgentMismatch);
        }
        let now_ms = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut active = self.active.write().map_err(|_| HandshakeRefusal::Revoked)?;
        let a = active
            .get_mut(cert_agent)
            .ok_or(HandshakeRefusal::Revoked)?;
        let sig = <[u8; 64]>::try_from(h.signature.as_slice())
            .map_err(|_| HandshakeRefusal::BadSignature)?;
        a.identity_key
            .verify(HELLO_DOMAIN, &h.payload(), &sig)
            .map_err(|_| HandshakeRefusal::BadSignature)?;
        if (now_ms - h.timestamp_ms).abs() > MAX_SKEW_MS {
            return Err(HandshakeRefusal::ClockSkew);
        }
        if h.timestamp_ms <= a.last_hello_ms {
            return Err(HandshakeRefusal::StaleTimestamp);
        }
        if !(16..=64).contains(&h.nonce.len()) || h.nonce == a.last_nonce {
            return Err(HandshakeRefusal::ReplayedNonce);
        }
        let min = self.settings.min_agent_version;
        let too_old = parse_version(&h.agent_version).is_none_or(|v| v < min);
        // The replay floor moves even when the agent must update, so the hello is spent.
        a.last_hello_ms = h.timestamp_ms;
        a.last_nonce = h.nonce.clone();
        if too_old {
            return Err(HandshakeRefusal::UpdateRequired {
                min_version: format!("{}.{}.{}", min.0, min.1, min.2),
            });
        }
        Ok(HelloAccepted {
            agent: AgentId(cert_agent.to_string()),
            team: TeamId(a.team.clone()),
        })
    }
}
