//! The internal agent CA: its private key sealed in the store, its certificate in the clear.

use time::OffsetDateTime;

use crate::crypto::issue::AgentCa;
use crate::crypto::{x509, ColumnSealer, MasterKey, PublicKey, Secret, SigningKey};
use crate::store::{ReadTx, StoreError, WriteTx};

/// Store name of the sealed CA private key (PKCS#8 PEM).
pub const AGENT_CA_KEY: &str = "agent_ca_key";
/// Store name of the CA certificate (PEM).
pub const AGENT_CA_CERT: &str = "agent_ca_cert";

/// Creates the agent CA and stores it; returns the certificate's SHA-256 fingerprint.
pub fn create_agent_ca(
    tx: &mut WriteTx,
    master: &MasterKey,
    key_version: u32,
    now: OffsetDateTime,
) -> Result<String, CaError> {
    let ca = x509::new_agent_ca(now)?;
    let sealed =
        sealer(master, key_version).seal(AGENT_CA_KEY.as_bytes(), ca.key_pem.expose().as_bytes());
    tx.put_secret(AGENT_CA_KEY, &sealed)?;
    tx.put_public(AGENT_CA_CERT, ca.cert_pem.as_bytes())?;
    Ok(x509::fingerprint(&ca.cert_der))
}

/// The agent CA certificate (PEM), if the store has one.
pub fn agent_ca_cert_pem(tx: &ReadTx) -> Result<Option<String>, StoreError> {
    Ok(tx
        .public(AGENT_CA_CERT)?
        .and_then(|b| String::from_utf8(b).ok()))
}

/// Creating the agent CA failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    X509(#[from] x509::X509Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Store name of the sealed session-grant signing key (Ed25519 seed).
pub const GRANT_KEY: &str = "grant_signing_key";
/// Store name of the session-grant public key (32 bytes), given to every enrolled agent.
pub const GRANT_PUBLIC: &str = "grant_public_key";

fn sealer(master: &MasterKey, key_version: u32) -> ColumnSealer {
    ColumnSealer::new(master, "appliance_secrets", "value", key_version)
}

fn corrupt(what: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        detail,
    }
}

/// Unseals the agent CA for issuing.
pub fn load_agent_ca(
    tx: &ReadTx,
    master: &MasterKey,
    key_version: u32,
) -> Result<AgentCa, CaError> {
    let cert = agent_ca_cert_pem(tx)?.ok_or_else(|| corrupt(AGENT_CA_CERT, "missing".into()))?;
    let sealed = tx
        .secret(AGENT_CA_KEY)?
        .ok_or_else(|| corrupt(AGENT_CA_KEY, "missing".into()))?;
    let key = sealer(master, key_version)
        .open(AGENT_CA_KEY.as_bytes(), &sealed)
        .map_err(|e| corrupt(AGENT_CA_KEY, e.to_string()))?;
    let key = String::from_utf8(key.expose().clone())
        .map_err(|_| corrupt(AGENT_CA_KEY, "not PEM".into()))?;
    Ok(AgentCa::load(&cert, &Secret::new(key))?)
}

/// The session-grant public key, creating the key pair on first use (data dirs initialized
/// before the fleet existed have none).
pub fn ensure_grant_key(
    tx: &mut WriteTx,
    master: &MasterKey,
    key_version: u32,
) -> Result<PublicKey, StoreError> {
    if let Some(b) = tx.public(GRANT_PUBLIC)? {
        let bytes = <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| corrupt(GRANT_PUBLIC, "wrong length".into()))?;
        return PublicKey::from_bytes(&bytes).map_err(|e| corrupt(GRANT_PUBLIC, e.to_string()));
    }
    let key = SigningKey::generate();
    let sealed = sealer(master, key_version).seal(GRANT_KEY.as_bytes(), key.seed().expose());
    tx.put_secret(GRANT_KEY, &sealed)?;
    tx.put_public(GRANT_PUBLIC, &key.public().to_bytes())?;
    Ok(key.public())
}
