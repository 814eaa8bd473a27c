//! A command's output at rest: stdout and stderr sealed together under the `commands/output`
//! column key, bound to the command's id, so the sealed bytes cannot be moved to another
//! command. Layout of the plaintext: `stdout length (u64 BE) ‖ stdout ‖ stderr`.

use crate::crypto::{ColumnSealer, SealError};

/// Seals a command's output for the command `id`.
pub(super) fn seal(sealer: &ColumnSealer, id: &str, stdout: &[u8], stderr: &[u8]) -> Vec<u8> {
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(8 + stdout.len() + stderr.len()));
    plain.extend_from_slice(&(stdout.len() as u64).to_be_bytes());
    plain.extend_from_slice(stdout);
    plain.extend_from_slice(stderr);
    sealer.seal(id.as_bytes(), &plain)
}

/// Opens what [`seal`] made for `id`: `(stdout, stderr)`.
pub(super) fn open(
    sealer: &ColumnSealer,
    id: &str,
    sealed: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let plain = sealer.open(id.as_bytes(), sealed)?;
    let bytes = plain.expose();
    let (len, rest) = bytes.split_at_checked(8).ok_or(SealError::Malformed)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(len);
    let n = usize::try_from(u64::from_be_bytes(n)).map_err(|_| SealError::Malformed)?;
    let (out, err) = rest.split_at_checked(n).ok_or(SealError::Malformed)?;
    Ok((out.to_vec(), err.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    fn sealer() -> ColumnSealer {
        ColumnSealer::new(&MasterKey::generate(), "commands", "output", 1)
    }

    #[test]
    fn output_round_trips_and_is_bound_to_its_command() {
        let s = sealer();
        let sealed = seal(&s, "cmd_a", b"out\n", b"err\n");
        assert_eq!(
            open(&s, "cmd_a", &sealed).unwrap(),
            (b"out\n".to_vec(), b"err\n".to_vec())
        );
        assert!(
            open(&s, "cmd_b", &sealed).is_err(),
            "moved to another command"
        );
        let empty = seal(&s, "cmd_a", b"", b"");
        assert_eq!(open(&s, "cmd_a", &empty).unwrap(), (vec![], vec![]));
    }
}
