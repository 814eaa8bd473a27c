//! Column sealing: AES-256-GCM under a per-column key, bound to the row it belongs to.
//!
//! Sealed value layout: `01 ‖ key_version (u32 BE) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! The column is bound by its key (HKDF info names table and column); the row is bound as
//! associated data together with the 5-byte header, so a ciphertext copied to another row or
//! column, truncated, or altered in any bit fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::master_key::MasterKey;
use super::random;
use super::secret::Secret;

const FORMAT: u8 = 1;
const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a sealed value could not be opened. Deliberately coarse: the caller learns that the
/// value is not authentic, never which byte was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed value is too short or has an unknown format")]
    Malformed,
    #[error("sealed value uses key version {found}, this sealer has version {expected}")]
    KeyVersion { found: u32, expected: u32 },
    #[error("sealed value failed authentication (moved, truncated or altered)")]
    Authentication,
}

/// Seals and opens the values of one column (`table`/`column`) with one key version.
pub struct ColumnSealer {
    version: u32,
    cipher: Aes256Gcm,
}

impl ColumnSealer {
    /// The sealer for `table`/`column` under master-key version `version`.
    pub fn new(master: &MasterKey, table: &str, column: &str, version: u32) -> Self {
        let key = master.column_key(table, column, version);
        Self {
            version,
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }

    /// Encrypts `plaintext` for the row identified by `row`, with a fresh random nonce.
    pub fn seal(&self, row: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_be_bytes());
        let nonce = random::bytes::<NONCE_LEN>();
        out.extend_from_slice(&nonce);
        let aad = aad(&out[..HEADER_LEN], row);
        // AES-GCM encryption fails only for inputs beyond 64 GiB, which no column holds.
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts a value sealed for `row` by this column's sealer.
    pub fn open(&self, row: &[u8], sealed: &[u8]) -> Result<Secret<Vec<u8>>, SealError> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT {
            return Err(SealError::Malformed);
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(&sealed[1..HEADER_LEN]);
        let found = u32::from_be_bytes(v);
        if found != self.version {
            return Err(SealError::KeyVersion {
                found,
                expected: self.version,
            });
        }
        let nonce = &sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN];
        let aad = aad(&sealed[..HEADER_LEN], row);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &sealed[HEADER_LEN + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map(Secret::new)
            .map_err(|_| SealError::Authentication)
    }

    /// The key version values are sealed under.
    pub fn version(&self) -> u32 {
        self.version
    }
}

fn aad(header: &[u8], row: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + row.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(row);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(master: &MasterKey, column: &str) -> ColumnSealer {
        ColumnSealer::new(master, "users", column, 1)
    }

    #[test]
    fn round_trip() {
        let m = MasterKey::generate();
        let s = sealer(&m, "totp");
        let sealed = s.seal(b"user-1", b"JBSWY3DPEHPK3PXP");
        assert_eq!(
            s.open(b"user-1", &sealed).unwrap().expose(),
            b"JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn nonces_are_fresh() {
        let m = MasterKey::generate();
        let s = sealer(&m, "totp");
        assert_ne!(s.seal(b"r", b"same"), s.seal(b"r", b"same"));
    }

    #[test]
    fn moved_to_another_row_fails() {
        let m = MasterKey::generate();
        let s = sealer(&m, "totp");
        let sealed = s.seal(b"user-1", b"secret");
        assert_eq!(
            s.open(b"user-2", &sealed).err(),
            Some(SealError::Authentication)
        );
    }

    #[test]
    fn moved_to_another_column_or_table_fails() {
        let m = MasterKey::generate();
        let sealed = sealer(&m, "totp").seal(b"user-1", b"secret");
        assert_eq!(
            sealer(&m, "recovery").open(b"user-1", &sealed).err(),
            Some(SealError::Authentication)
        );
        let other_table = ColumnSealer::new(&m, "webhooks", "totp", 1);
        assert_eq!(
            other_table.open(b"user-1", &sealed).err(),
            Some(SealError::Authentication)
        );
    }

    #[test]
    fn another_master_key_fails() {
        let sealed = sealer(&MasterKey::generate(), "totp").seal(b"r", b"secret");
        assert_eq!(
            sealer(&MasterKey::generate(), "totp")
                .open(b"r", &sealed)
                .err(),
            Some(SealError::Authentication)
        );
    }

    #[test]
    fn every_bit_flip_fails() {
        let m = MasterKey::generate();
        let s = sealer(&m, "totp");
        let sealed = s.seal(b"r", b"secret value");
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[byte] ^= 1 << bit;
                assert!(s.open(b"r", &t).is_err(), "flip at byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn every_truncation_fails() {
        let m = MasterKey::generate();
        let s = sealer(&m, "totp");
        let sealed = s.seal(b"r", b"secret value");
        for len in 0..sealed.len() {
            assert!(s.open(b"r", &sealed[..len]).is_err(), "truncated to {len}");
        }
    }

    #[test]
    fn version_is_checked() {
        let m = MasterKey::generate();
        let v2 = ColumnSealer::new(&m, "users", "totp", 2);
        let sealed = v2.seal(b"r", b"x");
        assert_eq!(
            sealer(&m, "totp").open(b"r", &sealed).err(),
            Some(SealError::KeyVersion {
                found: 2,
                expected: 1
            })
        );
    }
}
