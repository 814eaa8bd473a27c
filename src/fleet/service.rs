//! The fleet service: its state and construction.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::agents::{AgentRow, AgentStatus};
use super::ca::{ensure_grant_key, load_agent_ca};
use super::FleetError;
use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::crypto::issue::AgentCa;
use crate::crypto::x509::{fingerprint, first_cert_der, CertAndKey};
use crate::crypto::{MasterKey, PublicKey};
use crate::model::AgentId;
use crate::store::{Store, Table};

/// Where `install.sh --agent` puts the binary and the agent's state.
const AGENT_BIN: &str = "/usr/local/bin/tundra";
const AGENT_STATE_DIR: &str = "/var/lib/tundra-agent";

/// Whether an agent reporting `version` is below `min` (unparseable versions are).
pub fn needs_update(version: &str, min: (u64, u64, u64)) -> bool {
    crate::config::parse_version(version).is_none_or(|v| v < min)
}

/// Seconds between agent heartbeats.
pub const HEARTBEAT_INTERVAL_SECS: u32 = 10;
/// How long an agent client certificate is valid.
const CLIENT_CERT_DAYS: i64 = 365;
/// How long the agent port's server certificate is valid (re-issued at every start).
const SERVER_CERT_DAYS: i64 = 397;

/// What the fleet takes from the config.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// `host:port` addresses agents dial.
    pub rendezvous: Vec<String>,
    /// Agents below this version get `UPDATE_REQUIRED`.
    pub min_agent_version: (u64, u64, u64),
}

/// What the handshake needs to know about an active agent, kept in memory so a TLS
/// handshake never waits on the store.
#[derive(Debug, Clone)]
pub(super) struct ActiveAgent {
    pub team: String,
    pub cert_sha256: [u8; 32],
    pub identity_key: PublicKey,
    pub last_hello_ms: i64,
    pub last_nonce: Vec<u8>,
}

/// The fleet service.
pub struct Fleet {
    pub(super) store: Arc<Store>,
    pub(super) audit: Arc<AuditLog>,
    pub(super) clock: SharedClock,
    pub(super) ca: AgentCa,
    pub(super) ca_fingerprint: String,
    pub(super) grant_public: PublicKey,
    pub(super) settings: FleetSettings,
    pub(super) active: RwLock<HashMap<String, ActiveAgent>>,
    pub(super) revoked: broadcast::Sender<AgentId>,
    pub(super) last_nonce_prune: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("ca_fingerprint", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Loads the CA and the active agents from `store`.
    pub fn open(
        store: Arc<Store>,
        audit: Arc<AuditLog>,
        clock: SharedClock,
        master: &MasterKey,
        key_version: u32,
        settings: FleetSettings,
    ) -> Result<Self, FleetError> {
        let ca = store
            .read(|tx| load_agent_ca(tx, master, key_version))
            .map_err(|e| match e {
                super::CaError::X509(x) => FleetError::X509(x),
                super::CaError::Store(s) => FleetError::Store(s),
            })?;
        // Only a store without a grant key is written to: opening must change nothing.
        let existing = store.read(|tx| tx.public(super::ca::GRANT_PUBLIC))?;
        let grant_public = match existing.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()) {
            Some(b) => PublicKey::from_bytes(&b).map_err(|e| {
                FleetError::Store(crate::store::StoreError::Corrupt {
                    what: "grant_public_key".into(),
                    detail: e.to_string(),
                })
            })?,
            None => store.write(|tx| ensure_grant_key(tx, master, key_version))?,
        };
        let ca_der = first_cert_der(&ca.cert_pem).unwrap_or_default();
        let agents = store.read(|tx| tx.rows::<AgentRow>(Table::Agents, ""))?;
        let active = agents
            .into_iter()
            .filter_map(|(_, a)| active_entry(&a).map(|e| (a.id.0.clone(), e)))
            .collect();
        let (revoked, _) = broadcast::channel(1024);
        Ok(Self {
            store,
            audit,
            clock,
            ca_fingerprint: fingerprint(&ca_der),
            ca,
            grant_public,
            settings,
            active: RwLock::new(active),
            revoked,
            last_nonce_prune: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// SHA-256 fingerprint of the agent CA (what `--ca-sha256` takes).
    pub fn ca_fingerprint(&self) -> &str {
        &self.ca_fingerprint
    }

    /// The agent CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// The addresses agents dial.
    pub fn rendezvous_addrs(&self) -> &[String] {
        &self.settings.rendezvous
    }

    /// The lowest agent version allowed to connect.
    pub fn min_agent_version(&self) -> (u64, u64, u64) {
        self.settings.min_agent_version
    }

    /// The one-line command that enrolls a host installed by `install.sh --agent` with
    /// `token` against the panel at `server` (the API and the panel both show it).
    pub fn enroll_command(&self, server: &str, token: &str) -> String {
        format!(
            "sudo -u tundra-agent {AGENT_BIN} agent enroll --state-dir {AGENT_STATE_DIR} \
             --server {server} --token {token} --ca-sha256 {}",
            self.ca_fingerprint
        )
    }

    /// A fresh server certificate for the agent port (and the panel's enrollment ALPN),
    /// issued by the agent CA for `names`.
    pub fn server_certificate(&self, names: &[String]) -> Result<CertAndKey, FleetError> {
        Ok(self
            .ca
            .issue_server(names, self.clock.now(), SERVER_CERT_DAYS)?)
    }

    /// Whether `agent` is active and `cert_der` is its current certificate. The rendezvous
    /// listener asks this during the TLS handshake, so revocation takes effect at once.
    pub fn certificate_current(&self, agent: &str, cert_sha256: &[u8; 32]) -> bool {
        self.active
            .read()
            .is_ok_and(|m| m.get(agent).is_some_and(|a| &a.cert_sha256 == cert_sha256))
    }

    /// The identity key of active agent `agent` (what its signed hellos and command results
    /// verify with); `None` for an unknown or deactivated agent.
    pub fn identity_key(&self, agent: &AgentId) -> Option<PublicKey> {
        self.active
            .read()
            .ok()
            .and_then(|m| m.get(&agent.0).map(|a| a.identity_key))
    }

    /// Whether `agent` is enrolled and active.
    pub fn is_active(&self, agent: &AgentId) -> bool {
        self.active.read().is_ok_and(|m| m.contains_key(&agent.0))
    }

    /// Ids of agents whose certificates were revoked (deactivated or deleted) from now on;
    /// the rendezvous hub closes their live connections.
    pub fn subscribe_revocations(&self) -> broadcast::Receiver<AgentId> {
        self.revoked.subscribe()
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(super) fn client_cert_days(&self) -> i64 {
        CLIENT_CERT_DAYS
    }

    /// Forgets `agent` in the handshake table and tells the hub to drop it.
    pub(super) fn revoke(&self, agent: &AgentId) {
        if let Ok(mut m) = self.active.write() {
            m.remove(&agent.0);
        }
        let _ = self.revoked.send(agent.clone());
    }
}

pub(super) fn active_entry(a: &AgentRow) -> Option<ActiveAgent> {
    if a.status != AgentStatus::Active {
        return None;
    }
    let cert_sha256 = <[u8; 32]>::try_from(hex::decode(&a.cert_sha256).ok()?).ok()?;
    Some(ActiveAgent {
        team: a.team.0.clone(),
        cert_sha256,
        identity_key: PublicKey::from_hex(&a.identity_key).ok()?,
        last_hello_ms: a.last_hello_ms,
        last_nonce: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::needs_update;

    #[test]
    fn versions_below_the_minimum_need_an_update() {
        assert!(needs_update("0.9.9", (1, 0, 0)));
        assert!(!needs_update("1.0.0", (1, 0, 0)));
        assert!(!needs_update("1.2.0-rc1", (1, 0, 0)));
        assert!(needs_update("garbage", (0, 0, 1)));
    }
}
