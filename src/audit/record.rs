//! The record format and its canonical encoding.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, PublicKey, SignatureError};
use crate::model::{Actor, TeamId};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The signature domain of audit records.
pub(super) const RECORD_DOMAIN: &str = "tundra/audit/record/v1";

/// One audit record, exactly as stored and exported (one JSON object per line).
///
/// The hash covers every field but `hash` and `signature`, in this order, serialized as
/// compact JSON (absent team-chain fields are left out, so records written before team
/// chains hash as they always did); unknown fields are refused when parsing, so nothing can
/// ride along unhashed.
///
/// A record belongs to two chains: the appliance's (`seq`, `prev_hash`) and, when it has a
/// team, its team's (`team_seq`, `team_prev_hash`). The team chain is what lets one team's
/// export be verified offline — nothing dropped, inserted or reordered — without a single
/// byte of another team's records: every team record's hash covers its link to the team's
/// previous record, and the signature covers the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// UTC time of the append, RFC 3339 with milliseconds.
    pub ts: String,
    /// Who acted.
    pub actor: Actor,
    /// The team, if the action belongs to one.
    pub team: Option<TeamId>,
    /// Dotted action name, e.g. `appliance.initialized`.
    pub action: String,
    /// The object acted on.
    pub target: Option<String>,
    /// Request correlation id.
    pub request_id: Option<String>,
    /// The policy decision, when one was made.
    pub policy_result: Option<serde_json::Value>,
    /// The command text, for command events.
    pub command: Option<String>,
    /// The peer's address.
    pub source_ip: Option<String>,
    /// Event-specific details.
    pub detail: serde_json::Value,
    /// Position in its team's own chain, from 1 (records of a team only; absent on records
    /// written before team chains existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_seq: Option<u64>,
    /// Hex `hash` of the team's previous record (zeros for the team's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_prev_hash: Option<String>,
    /// Hex of the previous record's `hash` (zeros for the first).
    pub prev_hash: String,
    /// Hex of SHA3-256(prev_hash bytes ‖ canonical encoding).
    pub hash: String,
    /// Hex of the Ed25519 signature of the `hash` bytes under the audit key.
    pub signature: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    ts: &'a str,
    actor: &'a Actor,
    team: &'a Option<TeamId>,
    action: &'a str,
    target: &'a Option<String>,
    request_id: &'a Option<String>,
    policy_result: &'a Option<serde_json::Value>,
    command: &'a Option<String>,
    source_ip: &'a Option<String>,
    detail: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_seq: &'a Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_prev_hash: &'a Option<String>,
    prev_hash: &'a str,
}

impl Record {
    /// The bytes the hash covers.
    pub fn canonical(&self) -> Vec<u8> {
        let c = Canonical {
            seq: self.seq,
            ts: &self.ts,
            actor: &self.actor,
            team: &self.team,
            action: &self.action,
            target: &self.target,
            request_id: &self.request_id,
            policy_result: &self.policy_result,
            command: &self.command,
            source_ip: &self.source_ip,
            detail: &self.detail,
            team_seq: &self.team_seq,
            team_prev_hash: &self.team_prev_hash,
            prev_hash: &self.prev_hash,
        };
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(&c).unwrap_or_default()
    }

    /// Recomputes the hash from the contents.
    pub fn compute_hash(&self) -> Option<[u8; 32]> {
        let prev = decode32(&self.prev_hash)?;
        Some(crypto::digest::sha3_256(&[&prev, &self.canonical()]))
    }

    /// The stored `hash` field as bytes.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode32(&self.hash)
    }

    /// Checks this record's signature alone.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), SignatureError> {
        let hash = self.hash_bytes().ok_or(SignatureError::Invalid)?;
        let sig = crypto::sign::signature_from_hex(&self.signature)?;
        key.verify(RECORD_DOMAIN, &hash, &sig)
    }
}

pub(super) fn decode32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}
