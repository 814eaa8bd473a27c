//! Signed heads: the newest sequence number and hash, signed, so a saved copy can later prove
//! that a log was cut short or rewritten.

use serde::{Deserialize, Serialize};

use crate::crypto::{sign::signature_from_hex, PublicKey, SignatureError, SigningKey};

const HEAD_DOMAIN: &str = "tundra/audit/head/v1";

/// A signed statement "the log had `seq` records, the last with `hash`, at `ts`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// Sequence number of the newest record (0 for an empty log).
    pub seq: u64,
    /// Hex hash of that record.
    pub hash: String,
    /// When the head was signed (RFC 3339, UTC).
    pub ts: String,
    /// Hex Ed25519 signature over `seq`, `hash` and `ts`.
    pub signature: String,
}

fn message(seq: u64, hash: &str, ts: &str) -> Vec<u8> {
    format!("{seq}\n{hash}\n{ts}").into_bytes()
}

impl SignedHead {
    /// Signs a head.
    pub fn sign(seq: u64, hash: String, ts: String, key: &SigningKey) -> Self {
        let signature = hex::encode(key.sign(HEAD_DOMAIN, &message(seq, &hash, &ts)));
        Self {
            seq,
            hash,
            ts,
            signature,
        }
    }

    /// Checks the head's signature.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        let sig = signature_from_hex(&self.signature)?;
        key.verify(HEAD_DOMAIN, &message(self.seq, &self.hash, &self.ts), &sig)
    }
}
