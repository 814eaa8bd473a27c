//! A wrapper for secret values.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret value: its `Debug` and `Display` print `[REDACTED]`, and its memory is zeroed
/// when it is dropped. Read it with [`Secret::expose`], as close to its use as possible.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`; from now on it is redacted in logs and zeroized on drop.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Never log or format what this returns.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn zeroize_clears_the_value() {
        // Drop runs zeroize; observe it through the same call on a value we still own.
        let mut v = vec![1u8, 2, 3];
        v.zeroize();
        assert!(v.is_empty());
        let mut a = [7u8; 4];
        a.zeroize();
        assert_eq!(a, [0; 4]);
    }

    #[test]
    fn ct_eq_compares_contents_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
