//! Randomness from the operating system.

use rand::rngs::OsRng;
use rand::RngCore;

/// `N` bytes from the OS CSPRNG.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// A random 128-bit value as 32 lowercase hex characters (request ids, object ids).
pub fn hex_id() -> String {
    hex::encode(bytes::<16>())
}
