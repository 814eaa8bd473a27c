//! The internal agent CA: its private key sealed in the store, its certificate in the clear.

use time::OffsetDateTime;

use crate::crypto::{x509, ColumnSealer, MasterKey};
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
    let sealer = ColumnSealer::new(master, "appliance_secrets", "value", key_version);
    let sealed = sealer.seal(AGENT_CA_KEY.as_bytes(), ca.key_pem.expose().as_bytes());
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
