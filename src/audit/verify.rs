//! Offline verification of an exported log: every record's hash, its link to the previous
//! record, its sequence number and its signature, and optionally a saved head.
//!
//! Works in chunks so memory stays flat however long the log is; signatures are checked in
//! batches spread over every core. The first bad record (by position) is named by its
//! sequence number together with what is wrong with it.

use std::io::BufRead;

use crate::crypto::{sign::signature_from_hex, PublicKey};

use super::head::SignedHead;
use super::record::{Record, GENESIS_HASH, RECORD_DOMAIN};

const CHUNK: usize = 16_384;

/// What is wrong with a record (or the log as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line is not a record.
    Malformed(String),
    /// The contents do not hash to the record's `hash`: the record was edited.
    Edited,
    /// The signature does not verify: the record was forged, inserted or edited with its
    /// hash recomputed.
    BadSignature,
    /// `prev_hash` does not match the previous record: something was inserted or replaced.
    ChainBroken,
    /// Sequence numbers `from..=to` are missing: records were dropped.
    Dropped { from: u64, to: u64 },
    /// A record appears after a later one: records were reordered.
    Reordered { after: u64 },
    /// The same record appears twice.
    Duplicated,
    /// The first record claims to be the first of the log but does not start the chain.
    BadGenesis,
    /// The log ends before the saved head: its tail was cut off.
    Truncated { last: u64, head: u64 },
    /// The record at the head's sequence number has a different hash: the log was rewritten.
    HeadMismatch,
    /// The saved head's signature does not verify with this key.
    BadHeadSignature,
    /// The log starts after the saved head, so the head cannot be checked against it.
    HeadNotCovered { first: u64 },
    /// The file holds no records.
    Empty,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed(why) => write!(f, "malformed record: {why}"),
            Problem::Edited => f.write_str("edited: contents do not match the record's hash"),
            Problem::BadSignature => {
                f.write_str("bad signature: forged, inserted, or edited with its hash recomputed")
            }
            Problem::ChainBroken => f.write_str(
                "chain broken: prev_hash does not match the previous record (inserted or replaced)",
            ),
            Problem::Dropped { from, to } if from == to => {
                write!(f, "dropped: seq {from} is missing")
            }
            Problem::Dropped { from, to } => write!(f, "dropped: seq {from} to {to} are missing"),
            Problem::Reordered { after } => write!(f, "reordered: appears after seq {after}"),
            Problem::Duplicated => f.write_str("inserted: duplicate of the previous record"),
            Problem::BadGenesis => f.write_str("first record does not start the chain"),
            Problem::Truncated { last, head } => write!(
                f,
                "truncated: log ends at seq {last} but the saved head is at seq {head}"
            ),
            Problem::HeadMismatch => f.write_str("rewritten: hash differs from the saved head's"),
            Problem::BadHeadSignature => f.write_str("saved head's signature does not verify"),
            Problem::HeadNotCovered { first } => write!(
                f,
                "saved head is older than the log's first record (seq {first}); export from an \
                 earlier seq to check it"
            ),
            Problem::Empty => f.write_str("no records"),
        }
    }
}

/// The first problem found, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}line {line}: {problem}", seq.map(|s| format!("seq {s}, ")).unwrap_or_default())]
pub struct VerifyFailure {
    /// The sequence number of the bad record, when it has one.
    pub seq: Option<u64>,
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong.
    pub problem: Problem,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// First sequence number in the file.
    pub first: u64,
    /// Last sequence number in the file.
    pub last: u64,
    /// Hash of the last record.
    pub last_hash: String,
    /// Whether a saved head was checked.
    pub head_checked: bool,
}

struct Parsed {
    line: usize,
    seq: u64,
    hash: [u8; 32],
    sig: [u8; 64],
}

/// Verifies a JSONL export with the audit public key, and against `head` if given.
pub fn verify_jsonl(
    input: impl BufRead,
    key: &PublicKey,
    head: Option<&SignedHead>,
) -> Result<VerifyReport, VerifyFailure> {
    if let Some(h) = head {
        h.verify(key).map_err(|_| VerifyFailure {
            seq: Some(h.seq),
            line: 0,
            problem: Problem::BadHeadSignature,
        })?;
    }
    let mut state = Chain::default();
    let mut lines = input.lines().enumerate();
    loop {
        // Parse a chunk first, so a jump in sequence numbers can look ahead to tell a
        // reordered record from a dropped one.
        let mut raw: Vec<(usize, Result<Record, String>)> = Vec::with_capacity(CHUNK);
        for (i, line) in lines.by_ref() {
            match line {
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => raw.push((i + 1, serde_json::from_str(&t).map_err(|e| e.to_string()))),
                Err(e) => raw.push((i + 1, Err(e.to_string()))),
            }
            if raw.len() == CHUNK {
                break;
            }
        }
        let full = raw.len() == CHUNK;
        let mut chunk = Vec::with_capacity(raw.len());
        let mut structural = None;
        for p in 0..raw.len() {
            match state.check(&raw, p, head) {
                Ok(parsed) => chunk.push(parsed),
                Err(f) => {
                    structural = Some(f);
                    break;
                }
            }
        }
        // A bad signature earlier in the file wins over a structural problem after it.
        if let Some(bad) = first_bad_signature(&chunk, key) {
            return Err(bad);
        }
        if let Some(f) = structural {
            return Err(f);
        }
        if !full {
            break;
        }
    }
    state.finish(head)
}

#[derive(Default)]
struct Chain {
    first: Option<u64>,
    prev: Option<(u64, [u8; 32])>,
    head_seen: bool,
}

fn fail(seq: Option<u64>, line: usize, problem: Problem) -> VerifyFailure {
    VerifyFailure { seq, line, problem }
}

impl Chain {
    /// Checks record `p` of the chunk `raw` against the chain so far.
    fn check(
        &mut self,
        raw: &[(usize, Result<Record, String>)],
        p: usize,
        head: Option<&SignedHead>,
    ) -> Result<Parsed, VerifyFailure> {
        let (line, parsed) = &raw[p];
        let line = *line;
        let record = parsed
            .as_ref()
            .map_err(|e| fail(None, line, Problem::Malformed(e.clone())))?;
        let seq = record.seq;
        let f = |p| fail(Some(seq), line, p);
        let hash = record
            .hash_bytes()
            .ok_or_else(|| f(Problem::Malformed("hash is not 64 hex characters".into())))?;
        let sig = signature_from_hex(&record.signature)
            .map_err(|e| f(Problem::Malformed(e.to_string())))?;
        let computed = record.compute_hash().ok_or_else(|| {
            f(Problem::Malformed(
                "prev_hash is not 64 hex characters".into(),
            ))
        })?;
        match self.prev {
            None => {
                if seq == 1 && computed == hash && record.prev_hash != hex::encode(GENESIS_HASH) {
                    return Err(f(Problem::BadGenesis));
                }
                self.first = Some(seq);
            }
            Some((prev_seq, prev_hash)) => {
                if seq == prev_seq && hash == prev_hash {
                    return Err(f(Problem::Duplicated));
                }
                if seq <= prev_seq {
                    return Err(f(Problem::Reordered { after: prev_seq }));
                }
                let expected = prev_seq + 1;
                if seq > expected {
                    let later = raw[p + 1..]
                        .iter()
                        .find(|(_, r)| r.as_ref().is_ok_and(|r| r.seq == expected));
                    return Err(match later {
                        Some((later_line, _)) => fail(
                            Some(expected),
                            *later_line,
                            Problem::Reordered { after: seq },
                        ),
                        None => f(Problem::Dropped {
                            from: expected,
                            to: seq - 1,
                        }),
                    });
                }
                if computed == hash && record.prev_hash != hex::encode(prev_hash) {
                    return Err(f(Problem::ChainBroken));
                }
            }
        }
        if computed != hash {
            return Err(f(Problem::Edited));
        }
        if let Some(h) = head {
            if h.seq == seq {
                self.head_seen = true;
                if h.hash != record.hash {
                    return Err(f(Problem::HeadMismatch));
                }
            }
        }
        self.prev = Some((seq, hash));
        Ok(Parsed {
            line,
            seq,
            hash,
            sig,
        })
    }

    fn finish(self, head: Option<&SignedHead>) -> Result<VerifyReport, VerifyFailure> {
        let (Some(first), Some((last, last_hash))) = (self.first, self.prev) else {
            return Err(fail(None, 0, Problem::Empty));
        };
        if let Some(h) = head {
            if h.seq > last {
                return Err(fail(
                    Some(last),
                    0,
                    Problem::Truncated { last, head: h.seq },
                ));
            }
            if !self.head_seen && h.seq > 0 {
                return Err(fail(Some(h.seq), 0, Problem::HeadNotCovered { first }));
            }
        }
        Ok(VerifyReport {
            first,
            last,
            last_hash: hex::encode(last_hash),
            head_checked: head.is_some(),
        })
    }
}

/// Batch-verifies the chunk's signatures on every core; returns the earliest bad one.
fn first_bad_signature(chunk: &[Parsed], key: &PublicKey) -> Option<VerifyFailure> {
    if chunk.is_empty() {
        return None;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = chunk.len().div_ceil(threads).max(64);
    let bad: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .enumerate()
            .map(|(n, part)| s.spawn(move || bad_in(part, key).map(|i| n * per + i)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    let i = bad.into_iter().min()?;
    let p = &chunk[i];
    Some(fail(Some(p.seq), p.line, Problem::BadSignature))
}

/// Index of the first bad signature in `part`, batch-verified 128 at a time.
fn bad_in(part: &[Parsed], key: &PublicKey) -> Option<usize> {
    for (n, batch) in part.chunks(128).enumerate() {
        let msgs: Vec<&[u8]> = batch.iter().map(|p| p.hash.as_slice()).collect();
        let sigs: Vec<[u8; 64]> = batch.iter().map(|p| p.sig).collect();
        if key.verify_batch(RECORD_DOMAIN, &msgs, &sigs).is_err() {
            let j = batch
                .iter()
                .position(|p| key.verify(RECORD_DOMAIN, &p.hash, &p.sig).is_err())?;
            return Some(n * 128 + j);
        }
    }
    None
}
