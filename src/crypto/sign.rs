//! Ed25519 signatures with domain separation.
//!
//! Every signature covers `domain ‖ 0x00 ‖ message`, so a signature made for one purpose
//! (an audit record, an audit head, later a session grant) is never valid for another.

use ed25519_dalek::Signer;
use rand::rngs::OsRng;

use super::secret::Secret;

/// An Ed25519 private key. Redacted in `Debug`; the inner key zeroizes on drop.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 public key; text form is 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

/// A signature or key failed to parse or verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("not a valid Ed25519 public key (expected 64 hex characters)")]
    BadPublicKey,
    #[error("not a valid Ed25519 signature (expected 128 hex characters)")]
    BadSignature,
    #[error("signature does not verify")]
    Invalid,
}

fn framed(domain: &str, msg: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 1 + msg.len());
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(msg);
    m
}

impl SigningKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// Rebuilds a key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for sealing at rest.
    pub fn seed(&self) -> Secret<[u8; 32]> {
        Secret::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `msg` under `domain`.
    pub fn sign(&self, domain: &str, msg: &[u8]) -> [u8; 64] {
        self.0.sign(&framed(domain, msg)).to_bytes()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

impl PublicKey {
    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, SignatureError> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignatureError::BadPublicKey)?;
        Self::from_bytes(&bytes)
    }

    /// Parses the 32-byte encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| SignatureError::BadPublicKey)
    }

    /// Lowercase hex of the 32-byte key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies a signature made by [`SigningKey::sign`] with the same `domain`.
    /// Uses strict verification (no malleable or small-order encodings).
    pub fn verify(&self, domain: &str, msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureError> {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0
            .verify_strict(&framed(domain, msg), &sig)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Verifies many signatures by this key at once (batch verification, about twice as
    /// fast as one by one). `Ok` means every signature is valid; on `Err`, call
    /// [`PublicKey::verify`] on each to find the bad one.
    pub fn verify_batch(
        &self,
        domain: &str,
        msgs: &[&[u8]],
        sigs: &[[u8; 64]],
    ) -> Result<(), SignatureError> {
        if msgs.len() != sigs.len() {
            return Err(SignatureError::Invalid);
        }
        let framed: Vec<Vec<u8>> = msgs.iter().map(|m| framed(domain, m)).collect();
        let refs: Vec<&[u8]> = framed.iter().map(Vec::as_slice).collect();
        let sigs: Vec<ed25519_dalek::Signature> = sigs
            .iter()
            .map(ed25519_dalek::Signature::from_bytes)
            .collect();
        let keys = vec![self.0; msgs.len()];
        ed25519_dalek::verify_batch(&refs, &sigs, &keys).map_err(|_| SignatureError::Invalid)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// Parses a 128-hex-character signature.
pub fn signature_from_hex(s: &str) -> Result<[u8; 64], SignatureError> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_domain_separation() {
        let k = SigningKey::generate();
        let sig = k.sign("tundra/audit/record/v1", b"m");
        let p = k.public();
        assert!(p.verify("tundra/audit/record/v1", b"m", &sig).is_ok());
        assert!(p.verify("tundra/audit/head/v1", b"m", &sig).is_err());
        assert!(p.verify("tundra/audit/record/v1", b"n", &sig).is_err());
        let seed = k.seed();
        let again = SigningKey::from_seed(seed.expose());
        assert_eq!(again.public(), p);
        assert_eq!(PublicKey::from_hex(&p.to_hex()).unwrap(), p);
    }

    #[test]
    fn batch_finds_a_bad_signature() {
        let k = SigningKey::generate();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let mut sigs: Vec<[u8; 64]> = msgs.iter().map(|m| k.sign("d", m)).collect();
        assert!(k.public().verify_batch("d", &refs, &sigs).is_ok());
        sigs[3][0] ^= 1;
        assert!(k.public().verify_batch("d", &refs, &sigs).is_err());
    }
}
