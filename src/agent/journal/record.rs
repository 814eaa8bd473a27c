//! One journal file holds one record:
//!
//! ```text
//! "TJ" | version (1) | kind (1) | at_ms (i64 LE) | payload length (u32 LE)   16-byte header
//! payload: fields, each a u32 LE length and that many bytes
//! SHA-256 of header and payload                                              32 bytes
//! ```
//!
//! The header alone says what the file is and when it was written, so the journal can index
//! a directory without reading the output it stores; the digest catches a torn or edited
//! file, which the journal then treats as "started, no result" (fail closed).

use prost::Message;

use crate::crypto::digest::sha256;
use crate::proto::agent::CommandResult;

const MAGIC: &[u8; 2] = b"TJ";
const VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;
const DIGEST_LEN: usize = 32;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command was about to run.
    Started = 1,
    /// Its result and kept output.
    Finished = 2,
    /// Its result without output (acknowledged, or pruned).
    Tombstone = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        [Self::Started, Self::Finished, Self::Tombstone]
            .into_iter()
            .find(|k| *k as u8 == b)
    }
}

/// A decoded record. `at_ms` is when it was written (for `Started`: when the command
/// started).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Recorded before the command ran.
    Started {
        /// The idempotency key.
        command_id: String,
        /// The operator's request id.
        request_id: String,
        /// SHA-256 of the command text.
        command_sha256: Vec<u8>,
        /// When it started.
        at_ms: i64,
    },
    /// The signed result and the output it covers.
    Finished {
        /// The idempotency key.
        command_id: String,
        /// The signed result.
        result: CommandResult,
        /// Kept stdout.
        stdout: Vec<u8>,
        /// Kept stderr.
        stderr: Vec<u8>,
        /// When it was journaled.
        at_ms: i64,
    },
    /// The signed result; the output is gone.
    Tombstone {
        /// The idempotency key.
        command_id: String,
        /// The signed result as first sent.
        result: CommandResult,
        /// Whether the appliance acknowledged it (else it was pruned unacknowledged).
        acked: bool,
        /// When the output was dropped.
        at_ms: i64,
    },
}

impl Record {
    /// The command id it is about.
    pub fn command_id(&self) -> &str {
        match self {
            Self::Started { command_id, .. }
            | Self::Finished { command_id, .. }
            | Self::Tombstone { command_id, .. } => command_id,
        }
    }

    /// Its kind and time.
    pub fn kind_and_time(&self) -> (Kind, i64) {
        match self {
            Self::Started { at_ms, .. } => (Kind::Started, *at_ms),
            Self::Finished { at_ms, .. } => (Kind::Finished, *at_ms),
            Self::Tombstone { at_ms, .. } => (Kind::Tombstone, *at_ms),
        }
    }

    /// Its file bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Started {
                command_id,
                request_id,
                command_sha256,
                at_ms,
            } => frame(
                Kind::Started,
                *at_ms,
                &[command_id.as_bytes(), request_id.as_bytes(), command_sha256],
            ),
            Self::Finished {
                command_id,
                result,
                stdout,
                stderr,
                at_ms,
            } => encode_finished(command_id, result, stdout, stderr, *at_ms),
            Self::Tombstone {
                command_id,
                result,
                acked,
                at_ms,
            } => frame(
                Kind::Tombstone,
                *at_ms,
                &[
                    command_id.as_bytes(),
                    &result.encode_to_vec(),
                    &[u8::from(*acked)],
                ],
            ),
        }
    }

    /// Parses and checks a whole file.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (kind, at_ms) = peek(bytes).ok_or("not a journal record (bad header)")?;
        let body_end = bytes
            .len()
            .checked_sub(DIGEST_LEN)
            .ok_or("shorter than a record")?;
        let (body, digest) = bytes.split_at(body_end);
        if sha256(body).as_slice() != digest {
            return Err("checksum mismatch (torn or edited file)".into());
        }
        let declared = u32::from_le_bytes(take::<4>(body, 12)?) as usize;
        let payload = body.get(HEADER_LEN..).ok_or("shorter than its header")?;
        if payload.len() != declared {
            return Err("payload length does not match its header".into());
        }
        let mut fields = Fields(payload);
        let command_id = fields.text()?;
        let record = match kind {
            Kind::Started => Self::Started {
                command_id,
                request_id: fields.text()?,
                command_sha256: fields.bytes()?.to_vec(),
                at_ms,
            },
            Kind::Finished => Self::Finished {
                command_id,
                result: fields.result()?,
                stdout: fields.bytes()?.to_vec(),
                stderr: fields.bytes()?.to_vec(),
                at_ms,
            },
            Kind::Tombstone => Self::Tombstone {
                command_id,
                result: fields.result()?,
                acked: fields.bytes()? == [1],
                at_ms,
            },
        };
        if !fields.0.is_empty() {
            return Err("trailing bytes after the last field".into());
        }
        Ok(record)
    }
}

/// The file bytes of a [`Record::Finished`], from borrowed parts (the output can be 16 MiB:
/// it is not copied into a `Record` first).
pub fn encode_finished(
    command_id: &str,
    result: &CommandResult,
    stdout: &[u8],
    stderr: &[u8],
    at_ms: i64,
) -> Vec<u8> {
    frame(
        Kind::Finished,
        at_ms,
        &[
            command_id.as_bytes(),
            &result.encode_to_vec(),
            stdout,
            stderr,
        ],
    )
}

fn frame(kind: Kind, at_ms: i64, fields: &[&[u8]]) -> Vec<u8> {
    let payload_len: usize = fields.iter().map(|f| 4 + f.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len + DIGEST_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&at_ms.to_le_bytes());
    // Fields are bounded by the 16 MiB output cap, far below u32::MAX.
    out.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
    for f in fields {
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(f);
    }
    let digest = sha256(&out);
    out.extend_from_slice(&digest);
    out
}

/// The kind and time in a file's first [`HEADER_LEN`] bytes.
pub fn peek(header: &[u8]) -> Option<(Kind, i64)> {
    if header.get(..2)? != MAGIC || *header.get(2)? != VERSION {
        return None;
    }
    let kind = Kind::from_byte(*header.get(3)?)?;
    Some((kind, i64::from_le_bytes(take::<8>(header, 4).ok()?)))
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    bytes
        .get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| "shorter than its header".to_string())
}

/// Length-prefixed fields, read front to back.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = u32::from_le_bytes(take::<4>(self.0, 0).map_err(|_| "a field is cut off")?);
        let rest = self.0.get(4..).unwrap_or_default();
        let len = len as usize;
        if rest.len() < len {
            return Err("a field is cut off".into());
        }
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a text field is not UTF-8".into())
    }

    fn result(&mut self) -> Result<CommandResult, String> {
        CommandResult::decode(self.bytes()?).map_err(|e| format!("bad CommandResult: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record> {
        let result = CommandResult {
            command_id: "c1".into(),
            exit_code: 3,
            stdout_len: 2,
            signature: vec![7; 64],
            message: "done".into(),
            ..Default::default()
        };
        vec![
            Record::Started {
                command_id: "c1".into(),
                request_id: "r1".into(),
                command_sha256: vec![1; 32],
                at_ms: 1_700_000_000_000,
            },
            Record::Finished {
                command_id: "c1".into(),
                result: result.clone(),
                stdout: b"hi".to_vec(),
                stderr: vec![0, 255, 10],
                at_ms: 5,
            },
            Record::Tombstone {
                command_id: "c1".into(),
                result,
                acked: true,
                at_ms: -1,
            },
        ]
    }

    #[test]
    fn records_round_trip_and_their_header_is_readable_alone() {
        for r in samples() {
            let bytes = r.encode();
            assert_eq!(Record::decode(&bytes).unwrap(), r);
            assert_eq!(peek(&bytes[..HEADER_LEN]).unwrap(), r.kind_and_time());
        }
    }

    #[test]
    fn any_flipped_or_missing_byte_is_detected() {
        for r in samples() {
            let bytes = r.encode();
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x40;
                assert!(Record::decode(&bad).is_err(), "flip at {i} went unnoticed");
                assert!(
                    Record::decode(&bytes[..i]).is_err(),
                    "cut at {i} went unnoticed"
                );
            }
        }
    }
}
