//! `POST /api/v1/agents/enroll`: what an enrolling agent sends and gets back (JSON).

use serde::{Deserialize, Serialize};

/// An enrollment request, sent with the registration token as `Authorization: Bearer
/// tnd_reg_…`. Every field but `signature` is covered by the signature (see
/// [`EnrollRequest::payload`]), made with the identity key whose public half it carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Ed25519 identity public key, hex.
    pub identity_key: String,
    /// PKCS#10 certificate signing request for the agent's mTLS key, PEM.
    pub csr_pem: String,
    /// The host's name.
    pub hostname: String,
    /// Operating system and version.
    pub os: String,
    /// The agent's version.
    pub version: String,
    /// A display name (defaults to the hostname).
    #[serde(default)]
    pub name: Option<String>,
    /// Tags to start with.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Unix milliseconds when the request was made.
    pub timestamp_ms: i64,
    /// 32 random bytes, hex; never accepted twice.
    pub nonce: String,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl EnrollRequest {
    /// The bytes the signature covers: every field, one per line, the token by its SHA-256
    /// (so the signature binds this token without the payload holding it).
    pub fn payload(&self, token_sha256_hex: &str) -> Vec<u8> {
        let name = self.name.as_deref().unwrap_or("");
        format!(
            "{token_sha256_hex}\n{}\n{}\n{}\n{}\n{}\n{name}\n{}\n{}\n{}",
            self.identity_key,
            self.csr_pem,
            self.hostname,
            self.os,
            self.version,
            self.tags.join(","),
            self.timestamp_ms,
            self.nonce
        )
        .into_bytes()
    }
}

/// What an enrolled agent gets back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The agent's id (also its certificate's CN).
    pub agent_id: String,
    /// The agent's client certificate, PEM.
    pub certificate_pem: String,
    /// The agent CA certificate, PEM (its SHA-256 is the pin the agent was given).
    pub ca_pem: String,
    /// `host:port` addresses of the rendezvous service, in order of preference.
    pub rendezvous: Vec<String>,
    /// The appliance's session-grant public key (Ed25519, hex), pinned by the agent.
    pub grant_public_key: String,
    /// Seconds between heartbeats.
    pub heartbeat_interval_s: u32,
}
