//! Enrollment (SPEC §4): an agent proves it holds its identity key, spends one use of a
//! registration token and gets a client certificate from the agent CA.
//!
//! Every check runs in the one write transaction that consumes the token, so concurrent
//! uses of a one-use token enroll exactly one agent. Refusals are audited afterwards in a
//! transaction of their own; the token value is never logged.

use std::sync::atomic::{AtomicI64, Ordering};

use super::agents::{team_key, AgentRow, AgentStatus};
use super::regtokens::RegTokenRow;
use super::service::active_entry;
use super::tags::{check_tags, check_text};
use super::{EnrollRefusal, Fleet, FleetError, HEARTBEAT_INTERVAL_SECS};
use crate::audit::{AuditContext, AuditEvent};
use crate::config::parse_version;
use crate::crypto::sign::signature_from_hex;
use crate::crypto::{digest, random, token, PublicKey};
use crate::model::{Actor, AgentId};
use crate::proto::agent::ENROLL_DOMAIN;
use crate::proto::enroll::{EnrollRequest, EnrollResponse};
use crate::store::{StoreError, Table, WriteTx};

/// How far an agent's clock may be from the appliance's.
pub const MAX_SKEW_MS: i64 = 60_000;
/// How long a seen nonce is remembered (longer than the skew window on both sides).
const NONCE_MEMORY_MS: i64 = 3 * MAX_SKEW_MS;

impl Fleet {
    /// Enrolls an agent. `ctx` carries the request id and source address; the actor is set
    /// to the new agent (or left anonymous on refusal).
    pub fn enroll(
        &self,
        ctx: &AuditContext,
        registration_token: &str,
        req: &EnrollRequest,
    ) -> Result<EnrollResponse, FleetError> {
        let hostname = req.hostname.chars().take(253).collect::<String>();
        let token_hash = token::token_hash_hex(registration_token);
        let result = self.try_enroll(ctx, req, &token_hash);
        if let Err(e) = &result {
            let (reason, token) = match e {
                FleetError::Enroll(r) => (r.code().to_string(), self.token_id(&token_hash)),
                FleetError::Invalid { field, .. } => (
                    format!("invalid_request:{field}"),
                    self.token_id(&token_hash),
                ),
                _ => return result,
            };
            let event = AuditEvent::EnrollmentRefused {
                reason,
                token,
                hostname,
            };
            let ctx = AuditContext {
                actor: Actor::Anonymous,
                ..ctx.clone()
            };
            self.audit.append_denial(&self.store, &ctx, &event)?;
        }
        result
    }

    fn token_id(&self, hash: &str) -> Option<String> {
        let row = self
            .store
            .read(|tx| tx.row::<RegTokenRow>(Table::RegTokens, hash));
        row.ok().flatten().map(|r| r.id)
    }

    fn try_enroll(
        &self,
        ctx: &AuditContext,
        req: &EnrollRequest,
        token_hash: &str,
    ) -> Result<EnrollResponse, FleetError> {
        let refuse = |r| Err(FleetError::Enroll(r));
        let hostname = check_text("hostname", &req.hostname, 253)?;
        let os = check_text("os", &req.os, 128)?;
        if parse_version(&req.version).is_none() {
            return Err(FleetError::Invalid {
                field: "version",
                message: format!("{:?} is not a version like 1.2.3", req.version),
            });
        }
        let name = match &req.name {
            Some(n) => check_text("name", n, 64)?,
            None => hostname.chars().take(64).collect(),
        };
        let tags = check_tags("tags", req.tags.clone())?;
        let nonce_ok = req.nonce.len() == 64 && hex::decode(&req.nonce).is_ok();
        if !nonce_ok {
            return Err(FleetError::Invalid {
                field: "nonce",
                message: "must be 32 random bytes as hex".into(),
            });
        }
        let identity_key =
            PublicKey::from_hex(&req.identity_key).map_err(|_| FleetError::Invalid {
                field: "identity_key",
                message: "must be an Ed25519 public key as hex".into(),
            })?;
        let now = self.now();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        self.store
            .write(|tx| {
                let Some(mut tok) = tx.row::<RegTokenRow>(Table::RegTokens, token_hash)? else {
                    return refuse(EnrollRefusal::UnknownToken);
                };
                if now.unix_timestamp() >= tok.expires {
                    return refuse(EnrollRefusal::TokenExpired);
                }
                if tok.used >= tok.uses {
                    return refuse(EnrollRefusal::TokenUsedUp);
                }
                let sig = signature_from_hex(&req.signature);
                let verified = sig.is_ok_and(|s| {
                    identity_key
                        .verify(ENROLL_DOMAIN, &req.payload(token_hash), &s)
                        .is_ok()
                });
                if !verified {
                    return refuse(EnrollRefusal::BadSignature);
                }
                if (now_ms - req.timestamp_ms).abs() > MAX_SKEW_MS {
                    return refuse(EnrollRefusal::ClockSkew);
                }
                prune_nonces(tx, &self.last_nonce_prune, now_ms)?;
                if tx.row::<i64>(Table::EnrollNonces, &req.nonce)?.is_some() {
                    return refuse(EnrollRefusal::ReplayedNonce);
                }
                tx.put_row(Table::EnrollNonces, &req.nonce, &(now_ms + NONCE_MEMORY_MS))?;

                let id = AgentId(format!("agt_{}", hex::encode(random::bytes::<13>())));
                let (cert_pem, cert_der) = self
                    .ca
                    .issue_client(&req.csr_pem, &id.0, now, self.client_cert_days())
                    .map_err(|_| FleetError::Enroll(EnrollRefusal::BadCsr))?;
                tok.used += 1;
                tx.put_row(Table::RegTokens, token_hash, &tok)?;
                let mut all_tags = tok.tags.clone();
                all_tags.extend(tags.iter().filter(|t| !tok.tags.contains(t)).cloned());
                let row = AgentRow {
                    id: id.clone(),
                    team: tok.team.clone(),
                    name: name.clone(),
                    hostname: hostname.clone(),
                    os,
                    version: req.version.clone(),
                    tags: check_tags("tags", all_tags)?,
                    identity_key: identity_key.to_hex(),
                    cert_sha256: hex::encode(digest::sha256(&cert_der)),
                    cert_not_after: (now + time::Duration::days(self.client_cert_days()))
                        .unix_timestamp(),
                    enrolled: now.unix_timestamp(),
                    enrolled_with: tok.id.clone(),
                    status: AgentStatus::Active,
                    deactivated: None,
                    last_hello_ms: 0,
                    last_seen: None,
                };
                tx.put_row(Table::Agents, &id.0, &row)?;
                tx.put_row(Table::TeamAgents, &team_key(&row.team, &id.0), &())?;
                let ctx = AuditContext {
                    actor: Actor::Agent(id.0.clone()),
                    team: Some(row.team.clone()),
                    ..ctx.clone()
                };
                let event = AuditEvent::AgentEnrolled {
                    agent: id.0.clone(),
                    name,
                    hostname,
                    token: tok.id.clone(),
                };
                self.audit.append(tx, &ctx, &event)?;
                Ok((row, cert_pem))
            })
            .map(|(row, cert_pem)| {
                if let (Some(entry), Ok(mut m)) = (active_entry(&row), self.active.write()) {
                    m.insert(row.id.0.clone(), entry);
                }
                EnrollResponse {
                    agent_id: row.id.0,
                    certificate_pem: cert_pem,
                    ca_pem: self.ca.cert_pem.clone(),
                    rendezvous: self.settings.rendezvous.clone(),
                    grant_public_key: self.grant_public.to_hex(),
                    heartbeat_interval_s: HEARTBEAT_INTERVAL_SECS,
                }
            })
    }
}

/// Forgets nonces older than the replay window, at most once a minute.
fn prune_nonces(tx: &mut WriteTx, last: &AtomicI64, now_ms: i64) -> Result<(), StoreError> {
    let previous = last.load(Ordering::Relaxed);
    if now_ms - previous < 60_000 && now_ms >= previous {
        return Ok(());
    }
    last.store(now_ms, Ordering::Relaxed);
    for (nonce, expires) in tx.rows::<i64>(Table::EnrollNonces, "")? {
        if expires < now_ms {
            tx.delete_row(Table::EnrollNonces, &nonce)?;
        }
    }
    Ok(())
}
