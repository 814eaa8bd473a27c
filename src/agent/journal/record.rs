//! One journal record:
//!
//! ```text
//! "TJ" | version (1) | kind (1) | at_ms (i64 LE) | payload length (u32 LE)   16-byte header
//! payload: fields, each a u32 LE length and that many bytes
//! digest of header and payload                                               32 bytes
//! ```
//!
//! Two seals, told apart by the version byte: version 1 is the one-file-per-id layout of
//! earlier agents (digest: SHA-256), read only to migrate it; version 2 is a record in the
//! log (digest: HMAC-SHA256 under the log's random key). The key is what lets the log's
//! scan hunt for the next record after damage: command output sits in the log between
//! records, and bytes a command printed can look like a record but cannot carry a digest
//! under a key it never saw (the log is 0600).
//!
//! The header alone says what a record is, when it was written and how long it is, so a
//! scan can step from record to record; the digest catches a torn or edited record, which
//! the journal then treats as "started, no result" (fail closed).

use prost::Message;

use crate::crypto::digest::{hmac_sha256, sha256};
use crate::proto::agent::CommandResult;

const MAGIC: &[u8; 2] = b"TJ";
/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;
/// Bytes after it.
pub const DIGEST_LEN: usize = 32;

/// The journal's key for a command id: its SHA-256 (ids come from the network; the old
/// layout named its files by it, and a damaged record may be known by it alone).
pub type Key = [u8; 32];

/// The key of `command_id`.
pub fn key_of(command_id: &str) -> Key {
    sha256(command_id.as_bytes())
}

/// How a record's digest is made.
#[derive(Clone, Copy)]
pub enum Seal<'a> {
    /// Version 1: a file of the old layout, SHA-256.
    File,
    /// Version 2: a record in the log, HMAC-SHA256 under the log's key.
    Log(&'a [u8; 32]),
}

impl Seal<'_> {
    fn version(self) -> u8 {
        match self {
            Self::File => 1,
            Self::Log(_) => 2,
        }
    }

    fn digest(self, body: &[u8]) -> [u8; 32] {
        match self {
            Self::File => sha256(body),
            Self::Log(key) => hmac_sha256(key, body),
        }
    }

    /// The first bytes of a log record (what a scan looks for after damage).
    pub fn prefix(self) -> [u8; 3] {
        [MAGIC[0], MAGIC[1], self.version()]
    }
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command was about to run.
    Started = 1,
    /// Its result and kept output.
    Finished = 2,
    /// Its result without output (acknowledged, or pruned).
    Tombstone = 3,
    /// Its latest record could not be trusted: it may have run.
    Damaged = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        [
            Self::Started,
            Self::Finished,
            Self::Tombstone,
            Self::Damaged,
        ]
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
    /// The id's latest record was damaged; only its key is known for sure.
    Damaged {
        /// The id's [`Key`].
        key: Key,
        /// What was wrong.
        reason: String,
        /// When the damage was found (it ages like a *started* record).
        at_ms: i64,
    },
}

impl Record {
    /// The key of the command id it is about.
    pub fn key(&self) -> Key {
        match self {
            Self::Started { command_id, .. }
            | Self::Finished { command_id, .. }
            | Self::Tombstone { command_id, .. } => key_of(command_id),
            Self::Damaged { key, .. } => *key,
        }
    }

    /// When it was written.
    pub fn at_ms(&self) -> i64 {
        match self {
            Self::Started { at_ms, .. }
            | Self::Finished { at_ms, .. }
            | Self::Tombstone { at_ms, .. }
            | Self::Damaged { at_ms, .. } => *at_ms,
        }
    }

    /// Its bytes under `seal`.
    pub fn encode(&self, seal: Seal<'_>) -> Vec<u8> {
        match self {
            Self::Started {
                command_id,
                request_id,
                command_sha256,
                at_ms,
            } => frame(
                seal,
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
            } => encode_finished(seal, command_id, result, stdout, stderr, *at_ms),
            Self::Tombstone {
                command_id,
                result,
                acked,
                at_ms,
            } => frame(
                seal,
                Kind::Tombstone,
                *at_ms,
                &[
                    command_id.as_bytes(),
                    &result.encode_to_vec(),
                    &[u8::from(*acked)],
                ],
            ),
            Self::Damaged { key, reason, at_ms } => {
                frame(seal, Kind::Damaged, *at_ms, &[key, reason.as_bytes()])
            }
        }
    }

    /// Parses and checks one whole record sealed with `seal`.
    pub fn decode(bytes: &[u8], seal: Seal<'_>) -> Result<Self, String> {
        let (kind, at_ms, len) = header(bytes, seal).ok_or("not a journal record (bad header)")?;
        if bytes.len() != len {
            return Err("its length does not match its header (torn or edited)".into());
        }
        let body_end = len.saturating_sub(DIGEST_LEN);
        let (body, digest) = bytes.split_at(body_end);
        if seal.digest(body).as_slice() != digest {
            return Err("checksum mismatch (torn or edited)".into());
        }
        let mut fields = Fields(body.get(HEADER_LEN..).unwrap_or_default());
        let record = match kind {
            Kind::Started => Self::Started {
                command_id: fields.text()?,
                request_id: fields.text()?,
                command_sha256: fields.bytes()?.to_vec(),
                at_ms,
            },
            Kind::Finished => Self::Finished {
                command_id: fields.text()?,
                result: fields.result()?,
                stdout: fields.bytes()?.to_vec(),
                stderr: fields.bytes()?.to_vec(),
                at_ms,
            },
            Kind::Tombstone => Self::Tombstone {
                command_id: fields.text()?,
                result: fields.result()?,
                acked: fields.bytes()? == [1],
                at_ms,
            },
            Kind::Damaged => Self::Damaged {
                key: Key::try_from(fields.bytes()?).map_err(|_| "a key is not 32 bytes")?,
                reason: fields.text()?,
                at_ms,
            },
        };
        if !fields.0.is_empty() {
            return Err("trailing bytes after the last field".into());
        }
        Ok(record)
    }
}

/// The bytes of a [`Record::Finished`], from borrowed parts (the output can be 16 MiB: it is
/// not copied into a `Record` first).
pub fn encode_finished(
    seal: Seal<'_>,
    command_id: &str,
    result: &CommandResult,
    stdout: &[u8],
    stderr: &[u8],
    at_ms: i64,
) -> Vec<u8> {
    frame(
        seal,
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

fn frame(seal: Seal<'_>, kind: Kind, at_ms: i64, fields: &[&[u8]]) -> Vec<u8> {
    let payload_len: usize = fields.iter().map(|f| 4 + f.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len + DIGEST_LEN);
    out.extend_from_slice(MAGIC);
    out.push(seal.version());
    out.push(kind as u8);
    out.extend_from_slice(&at_ms.to_le_bytes());
    // Fields are bounded by the 16 MiB output cap, far below u32::MAX; the journal refuses
    // to write a record longer than it would read back.
    out.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
    for f in fields {
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(f);
    }
    let digest = seal.digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The kind, time and whole length of the record whose first [`HEADER_LEN`] bytes are
/// `header`, if they are a header under `seal` (the digest is not checked).
pub fn header(header: &[u8], seal: Seal<'_>) -> Option<(Kind, i64, usize)> {
    if header.get(..3)? != seal.prefix() {
        return None;
    }
    let kind = Kind::from_byte(*header.get(3)?)?;
    let at_ms = i64::from_le_bytes(take::<8>(header, 4).ok()?);
    let payload = u32::from_le_bytes(take::<4>(header, 12).ok()?) as usize;
    Some((kind, at_ms, HEADER_LEN + payload + DIGEST_LEN))
}

/// The key a record that failed its checks claims to be about, if its header and first
/// field are readable. A guess, good only for marking an id *damaged* (which can never
/// make a command run).
pub fn claimed_key(bytes: &[u8], seal: Seal<'_>) -> Option<Key> {
    let (kind, _, _) = header(bytes, seal)?;
    let first = Fields(bytes.get(HEADER_LEN..)?).bytes().ok()?;
    match kind {
        Kind::Damaged => Key::try_from(first).ok(),
        _ => std::str::from_utf8(first).ok().map(key_of),
    }
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

    const KEY: [u8; 32] = [5; 32];

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
            Record::Damaged {
                key: key_of("c1"),
                reason: "checksum mismatch".into(),
                at_ms: 9,
            },
        ]
    }

    #[test]
    fn records_round_trip_and_their_header_is_readable_alone() {
        for seal in [Seal::File, Seal::Log(&KEY)] {
            for r in samples() {
                let bytes = r.encode(seal);
                assert_eq!(Record::decode(&bytes, seal).unwrap(), r);
                let (_, at_ms, len) = header(&bytes[..HEADER_LEN], seal).unwrap();
                assert_eq!((at_ms, len), (r.at_ms(), bytes.len()));
                assert_eq!(claimed_key(&bytes, seal), Some(key_of("c1")));
            }
        }
    }

    #[test]
    fn any_flipped_or_missing_byte_is_detected() {
        for seal in [Seal::File, Seal::Log(&KEY)] {
            for r in samples() {
                let bytes = r.encode(seal);
                for i in 0..bytes.len() {
                    let mut bad = bytes.clone();
                    bad[i] ^= 0x40;
                    assert!(Record::decode(&bad, seal).is_err(), "flip at {i} unnoticed");
                    assert!(
                        Record::decode(&bytes[..i], seal).is_err(),
                        "cut at {i} went unnoticed"
                    );
                }
            }
        }
    }

    #[test]
    fn a_record_verifies_only_under_its_own_seal() {
        // What a command could print: a well-formed record, but not under the log's key.
        for r in samples() {
            let forged = r.encode(Seal::Log(&[6; 32]));
            assert!(Record::decode(&forged, Seal::Log(&KEY)).is_err());
            assert!(Record::decode(&r.encode(Seal::File), Seal::Log(&KEY)).is_err());
            assert!(Record::decode(&r.encode(Seal::Log(&KEY)), Seal::File).is_err());
        }
    }
}
