//! Digests and key derivation.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sha3::{Digest, Sha3_256};

/// SHA3-256 over the concatenation of `parts` (the audit chain's hash).
pub fn sha3_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 of `data` (certificate fingerprints, stored token hashes).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 (RFC 2104) of `data` under a 32-byte `key`: a digest that only a holder of
/// the key can produce (the agent's command journal seals its records with it).
pub fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    // HMAC zero-pads a short key to the 64-byte block; doing it here keeps `new` infallible.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as Mac>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// BLAKE3-256 of `data` (the master key file's integrity trailer, asset ETags).
pub fn blake3(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` into `out`.
///
/// `out` may be at most 255 × 32 bytes; longer requests are a programming error and yield
/// [`OutputTooLong`], never a short key.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), OutputTooLong> {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| OutputTooLong)
}

/// HKDF was asked for more than 255 blocks of output.
#[derive(Debug, thiserror::Error)]
#[error("HKDF output longer than 8160 bytes requested")]
pub struct OutputTooLong;

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    fn range(from: u8, to_inclusive: u8) -> Vec<u8> {
        (from..=to_inclusive).collect()
    }

    /// RFC 5869 Appendix A.1: basic test case with SHA-256.
    #[test]
    fn hkdf_rfc5869_case_1() {
        let mut okm = [0u8; 42];
        hkdf_sha256(
            &range(0x00, 0x0c),
            &[0x0b; 22],
            &range(0xf0, 0xf9),
            &mut okm,
        )
        .unwrap();
        assert_eq!(
            okm.to_vec(),
            unhex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                 34007208d5b887185865"
            )
        );
    }

    /// RFC 5869 Appendix A.2: longer inputs and outputs.
    #[test]
    fn hkdf_rfc5869_case_2() {
        let mut okm = [0u8; 82];
        hkdf_sha256(
            &range(0x60, 0xaf),
            &range(0x00, 0x4f),
            &range(0xb0, 0xff),
            &mut okm,
        )
        .unwrap();
        assert_eq!(
            okm.to_vec(),
            unhex(
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                 59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                 cc30c58179ec3e87c14c01d5c1f3434f1d87"
            )
        );
    }

    /// RFC 5869 Appendix A.3: zero-length salt and info.
    #[test]
    fn hkdf_rfc5869_case_3() {
        let mut okm = [0u8; 42];
        hkdf_sha256(&[], &[0x0b; 22], &[], &mut okm).unwrap();
        assert_eq!(
            okm.to_vec(),
            unhex(
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
                 9d201395faa4b61a96c8"
            )
        );
    }

    #[test]
    fn hkdf_refuses_overlong_output() {
        let mut okm = vec![0u8; 255 * 32 + 1];
        assert!(hkdf_sha256(b"s", b"k", b"i", &mut okm).is_err());
    }

    /// RFC 4231 test cases 1 and 2 (their 20- and 4-byte keys, zero-padded as HMAC does).
    #[test]
    fn hmac_sha256_rfc4231_cases_1_and_2() {
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sha3_of_empty_is_the_standard_value() {
        assert_eq!(
            hex::encode(sha3_256(&[])),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
    }
}
