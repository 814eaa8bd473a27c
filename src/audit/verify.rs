//! Offline verification of an exported log: every record's hash, its link to the previous
//! record, its sequence number and its signature, and optionally a saved head.
//!
//! Works in chunks so memory stays flat however long the log is; signatures are checked in
//! batches spread over every core. The first bad record (by position) is named by its
//! sequence number together with what is wrong with it.

use std::io::BufRead;

use crate::crypto::{sign::signature_from_hex, PublicKey};

use super::head::SignedHead;
use super::record::{decode32, Record, GENESIS_HASH, RECORD_DOMAIN};

pub(super) const CHUNK: usize = 16_384;
/// Signatures per batch equation: large batches amortize the multiscalar multiplication.
const BATCH: usize = 1024;

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
    /// A team's export holds a record of another team (or of no team).
    NotThisTeam,
    /// Team records `from..=to` (positions in the team's chain) are missing.
    TeamDropped { from: u64, to: u64 },
    /// `team_prev_hash` does not match the team's previous record.
    TeamChainBroken,
    /// The team's first record does not start its chain.
    BadTeamGenesis,
    /// A record without a team position follows one with it.
    TeamPositionMissing,
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
            Problem::NotThisTeam => f.write_str("belongs to another team (or to none)"),
            Problem::TeamDropped { from, to } if from == to => {
                write!(f, "dropped: team record #{from} is missing")
            }
            Problem::TeamDropped { from, to } => {
                write!(f, "dropped: team records #{from} to #{to} are missing")
            }
            Problem::TeamChainBroken => f.write_str(
                "team chain broken: team_prev_hash does not match the team's previous record",
            ),
            Problem::BadTeamGenesis => {
                f.write_str("first team record does not start the team chain")
            }
            Problem::TeamPositionMissing => {
                f.write_str("has no team position, after records that have one")
            }
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

/// One line, parsed and checked on its own (hash recomputed) by a worker thread.
pub(super) struct Item {
    pub(super) line: usize,
    pub(super) record: Result<Checked, String>,
}

/// What the sequential pass needs of a record that parsed.
pub(super) struct Checked {
    pub(super) seq: u64,
    pub(super) prev_hash: String,
    pub(super) hash: [u8; 32],
    pub(super) hash_hex: String,
    pub(super) computed: [u8; 32],
    pub(super) sig: [u8; 64],
    pub(super) team: Option<String>,
    pub(super) team_seq: Option<u64>,
    pub(super) team_prev_hash: Option<String>,
}

fn check_alone(line: usize, text: &str) -> Item {
    Item {
        line,
        record: check_as_written(text).map_or_else(|| check_parsed(text), Ok),
    }
}

/// The fields a record's own hash and signature are checked with, borrowed from the line.
#[derive(serde::Deserialize)]
struct Signed<'a> {
    seq: u64,
    #[serde(borrow)]
    prev_hash: &'a str,
    #[serde(borrow)]
    hash: &'a str,
    #[serde(borrow)]
    signature: &'a str,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    team_seq: Option<u64>,
    #[serde(default)]
    team_prev_hash: Option<String>,
}

/// Fast path for a line exactly as the appliance wrote it: the record's canonical encoding
/// is the line up to its closing `,"hash":…,"signature":…}` suffix, so it is hashed in place
/// instead of being parsed and re-serialized. Anything else (a reformatted line, an edit, a
/// malformed value) returns `None` and takes the full path, which decides what is wrong.
fn check_as_written(text: &str) -> Option<Checked> {
    let s: Signed = serde_json::from_str(text).ok()?;
    let body = strip_signed_suffix(text, s.hash, s.signature)?;
    let prev = decode32(s.prev_hash)?;
    let hash = decode32(s.hash)?;
    let computed = crate::crypto::digest::sha3_256(&[&prev, body.as_bytes(), b"}"]);
    if computed != hash {
        return None;
    }
    Some(Checked {
        seq: s.seq,
        prev_hash: s.prev_hash.to_string(),
        hash,
        hash_hex: s.hash.to_string(),
        computed,
        sig: signature_from_hex(s.signature).ok()?,
        team: s.team,
        team_seq: s.team_seq,
        team_prev_hash: s.team_prev_hash,
    })
}

/// `text` without its closing `,"hash":"…","signature":"…"}`, if it ends exactly so.
fn strip_signed_suffix<'a>(text: &'a str, hash: &str, signature: &str) -> Option<&'a str> {
    let rest = text.strip_suffix("\"}")?;
    let rest = rest.strip_suffix(signature)?;
    let rest = rest.strip_suffix("\",\"signature\":\"")?;
    let rest = rest.strip_suffix(hash)?;
    rest.strip_suffix(",\"hash\":\"")
}

/// Full path: parse every field (unknown fields refused) and recompute the canonical hash.
fn check_parsed(text: &str) -> Result<Checked, String> {
    let record: Record = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let hash = record.hash_bytes().ok_or("hash is not 64 hex characters")?;
    let sig = signature_from_hex(&record.signature).map_err(|e| e.to_string())?;
    let computed = record
        .compute_hash()
        .ok_or("prev_hash is not 64 hex characters")?;
    Ok(Checked {
        seq: record.seq,
        prev_hash: record.prev_hash,
        hash,
        hash_hex: record.hash,
        computed,
        sig,
        team: record.team.map(|t| t.0),
        team_seq: record.team_seq,
        team_prev_hash: record.team_prev_hash,
    })
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut state = Chain::default();
    let mut lines = input.lines().enumerate();
    loop {
        let (raw, read_error) = read_chunk(&mut lines);
        let full = raw.len() == CHUNK;
        // Parsing, hashing and signature checks are independent per record: spread them over
        // every core. Only the links between records are checked in order.
        let (items, bad_sig) = check_parallel(&raw, key, threads);
        let mut structural = None;
        for p in 0..items.len() {
            if let Err(f) = state.link(&items, p, head) {
                structural = Some((p, f));
                break;
            }
        }
        first_failure(&items, bad_sig, structural, read_error)?;
        if !full {
            break;
        }
    }
    state.finish(head)
}

/// Up to [`CHUNK`] non-blank lines with their 1-based numbers; a read error ends the chunk and
/// comes back beside it (reported after the lines read before it).
pub(super) fn read_chunk(
    lines: &mut impl Iterator<Item = (usize, std::io::Result<String>)>,
) -> (Vec<(usize, String)>, Option<VerifyFailure>) {
    let mut raw = Vec::with_capacity(CHUNK);
    for (i, line) in lines.by_ref() {
        match line {
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => raw.push((i + 1, t)),
            Err(e) => {
                return (
                    raw,
                    Some(fail(None, i + 1, Problem::Malformed(e.to_string()))),
                )
            }
        }
        if raw.len() == CHUNK {
            break;
        }
    }
    (raw, None)
}

/// The first thing wrong in a checked chunk, in file order: a bad signature at or before the
/// first broken link wins, then the link, then a read error after the chunk's lines.
pub(super) fn first_failure(
    items: &[Item],
    bad_sig: Option<usize>,
    structural: Option<(usize, VerifyFailure)>,
    read_error: Option<VerifyFailure>,
) -> Result<(), VerifyFailure> {
    match (bad_sig, structural) {
        (Some(q), Some((p, _))) if q <= p => Err(sig_failure(&items[q])),
        (Some(q), None) => Err(sig_failure(&items[q])),
        (_, Some((_, f))) => Err(f),
        (None, None) => read_error.map_or(Ok(()), Err),
    }
}

pub(super) fn sig_failure(item: &Item) -> VerifyFailure {
    let seq = item.record.as_ref().ok().map(|c| c.seq);
    fail(seq, item.line, Problem::BadSignature)
}

/// Checks each line alone on `threads` workers; returns the items in order and the index of
/// the first one whose signature does not verify.
pub(super) fn check_parallel(
    raw: &[(usize, String)],
    key: &PublicKey,
    threads: usize,
) -> (Vec<Item>, Option<usize>) {
    if raw.is_empty() {
        return (Vec::new(), None);
    }
    let per = raw.len().div_ceil(threads).max(256);
    let parts: Vec<(Vec<Item>, Option<usize>)> = std::thread::scope(|s| {
        let handles: Vec<_> = raw
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let items: Vec<Item> =
                        part.iter().map(|(line, t)| check_alone(*line, t)).collect();
                    let bad = first_bad_in(&items, key);
                    (items, bad)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut items = Vec::with_capacity(raw.len());
    let mut bad = None;
    for (part, part_bad) in parts {
        if bad.is_none() {
            bad = part_bad.map(|i| items.len() + i);
        }
        items.extend(part);
    }
    (items, bad)
}

/// Index of the first record in `items` with a bad signature, batch-verified [`BATCH`] at a
/// time.
fn first_bad_in(items: &[Item], key: &PublicKey) -> Option<usize> {
    let ok: Vec<(usize, &Checked)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| it.record.as_ref().ok().map(|c| (i, c)))
        .collect();
    for batch in ok.chunks(BATCH) {
        let msgs: Vec<&[u8]> = batch.iter().map(|(_, c)| c.hash.as_slice()).collect();
        let sigs: Vec<[u8; 64]> = batch.iter().map(|(_, c)| c.sig).collect();
        if key.verify_batch(RECORD_DOMAIN, &msgs, &sigs).is_err() {
            return batch
                .iter()
                .find(|(_, c)| key.verify(RECORD_DOMAIN, &c.hash, &c.sig).is_err())
                .map(|(i, _)| *i);
        }
    }
    None
}

#[derive(Default)]
struct Chain {
    first: Option<u64>,
    prev: Option<(u64, [u8; 32])>,
    head_seen: bool,
}

pub(super) fn fail(seq: Option<u64>, line: usize, problem: Problem) -> VerifyFailure {
    VerifyFailure { seq, line, problem }
}

impl Chain {
    /// Checks item `p` against the chain so far (sequence, links, hash, saved head).
    fn link(
        &mut self,
        items: &[Item],
        p: usize,
        head: Option<&SignedHead>,
    ) -> Result<(), VerifyFailure> {
        let line = items[p].line;
        let c = items[p]
            .record
            .as_ref()
            .map_err(|e| fail(None, line, Problem::Malformed(e.clone())))?;
        let seq = c.seq;
        let f = |p| fail(Some(seq), line, p);
        let consistent = c.computed == c.hash;
        match self.prev {
            None => {
                if seq == 1 && consistent && c.prev_hash != hex::encode(GENESIS_HASH) {
                    return Err(f(Problem::BadGenesis));
                }
                self.first = Some(seq);
            }
            Some((prev_seq, prev_hash)) => {
                if seq == prev_seq && c.hash == prev_hash {
                    return Err(f(Problem::Duplicated));
                }
                if seq <= prev_seq {
                    return Err(f(Problem::Reordered { after: prev_seq }));
                }
                let expected = prev_seq + 1;
                if seq > expected {
                    let later = items[p + 1..]
                        .iter()
                        .find(|it| it.record.as_ref().is_ok_and(|r| r.seq == expected));
                    return Err(match later {
                        Some(it) => {
                            fail(Some(expected), it.line, Problem::Reordered { after: seq })
                        }
                        None => f(Problem::Dropped {
                            from: expected,
                            to: seq - 1,
                        }),
                    });
                }
                if consistent && c.prev_hash != hex::encode(prev_hash) {
                    return Err(f(Problem::ChainBroken));
                }
            }
        }
        if !consistent {
            return Err(f(Problem::Edited));
        }
        if let Some(h) = head {
            if h.seq == seq {
                self.head_seen = true;
                if h.hash != c.hash_hex {
                    return Err(f(Problem::HeadMismatch));
                }
            }
        }
        self.prev = Some((seq, c.hash));
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Actor;

    /// The fast path relies on this: a stored line is the canonical encoding with the hash
    /// and signature appended.
    #[test]
    fn a_stored_line_is_its_canonical_encoding_plus_hash_and_signature() {
        let record = Record {
            seq: 7,
            ts: "2026-11-22T05:54:45.123Z".into(),
            actor: Actor::User("u1".into()),
            team: None,
            action: "x.y".into(),
            target: Some("t".into()),
            request_id: None,
            policy_result: Some(serde_json::json!({"b": 1, "a": "\"quoted,\"hash\":\""})),
            command: Some("echo \"hi\"".into()),
            source_ip: Some("::1".into()),
            detail: serde_json::json!({"k": [1, 2]}),
            team_seq: None,
            team_prev_hash: None,
            prev_hash: "ab".repeat(32),
            hash: "cd".repeat(32),
            signature: "ef".repeat(64),
        };
        let line = serde_json::to_string(&record).unwrap();
        let suffix = format!(
            ",\"hash\":\"{}\",\"signature\":\"{}\"}}",
            record.hash, record.signature
        );
        let body = line.strip_suffix(&suffix).unwrap();
        assert_eq!(format!("{body}}}").into_bytes(), record.canonical());
        // The same with the team chain's fields.
        let chained = Record {
            team_seq: Some(3),
            team_prev_hash: Some("12".repeat(32)),
            ..record
        };
        let line = serde_json::to_string(&chained).unwrap();
        let body = line.strip_suffix(&suffix).unwrap();
        assert_eq!(format!("{body}}}").into_bytes(), chained.canonical());
    }
}
