//! Reading a log back at open: record after record from its header on, until the zeros.
//!
//! Where a record fails its checks, the scan looks for the next valid one. Found: the bytes
//! between are damage, and the id the bad record names (if it still names one) is marked
//! *damaged*, unless a later record for it supersedes that. Not found: the log ends there,
//! and any bytes left between there and the zeros are a record a crash tore (see
//! [`Tail::torn_until`]). The search tries every place the record prefix appears, which is
//! safe because a candidate must pass its keyed digest (see `record.rs`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::FileExt;

use super::log::{self, Log, Span, HEADER_LEN};
use super::record::{self, Key, Record, Seal};
use super::{slot_of, Slot, State, MAX_RECORD};

/// How much is read at a time while looking past a bad record.
const CHUNK: u64 = 1 << 20;

/// What a scan found.
pub struct Scanned {
    /// Each id's latest state. Ids in `unsaved` have no record yet (span 0..0).
    pub index: HashMap<Key, Slot>,
    /// Ids marked *damaged* by the scan whose mark must still be appended.
    pub unsaved: HashSet<Key>,
    /// Damaged stretches (`at`, `len`), and whether each named its id.
    pub damage: Vec<(Span, bool)>,
    /// Where the log ends.
    pub tail: Tail,
}

/// The end of the records.
pub struct Tail {
    /// Where the next record goes.
    pub end: u64,
    /// If not `end`: bytes of a torn record lie before this and must be zeroed before
    /// anything is appended (so a later scan cannot mistake them for damage).
    pub torn_until: u64,
}

/// Scans `log`; damaged ids are dated `now_ms`.
pub fn scan(log: &Log, now_ms: i64) -> io::Result<Scanned> {
    let mut found = Scanned {
        index: HashMap::new(),
        unsaved: HashSet::new(),
        damage: Vec::new(),
        tail: Tail {
            end: HEADER_LEN,
            torn_until: HEADER_LEN,
        },
    };
    let mut pos = HEADER_LEN;
    loop {
        if let Some((record, len)) = record_at(log, pos)? {
            let key = record.key();
            found.unsaved.remove(&key);
            found
                .index
                .insert(key, slot_of(&record, Span { at: pos, len }));
            pos += len;
            continue;
        }
        let (next, torn_until) = next_record(log, pos)?;
        let Some(next) = next else {
            found.tail = Tail {
                end: pos,
                torn_until: torn_until.max(pos),
            };
            return Ok(found);
        };
        let span = Span {
            at: pos,
            len: next - pos,
        };
        let claimed = claimed(log, span)?;
        if let Some(key) = claimed {
            found.unsaved.insert(key);
            let slot = Slot {
                at_ms: now_ms,
                span: Span { at: 0, len: 0 },
                state: State::Damaged {
                    reason: format!(
                        "its journal record at offset {pos} of the log is damaged ({} bytes \
                         until the next valid record)",
                        span.len
                    ),
                },
            };
            found.index.insert(key, slot);
        }
        found.damage.push((span, claimed.is_some()));
        pos = next;
    }
}

/// The valid record at `pos` and its length, if there is one.
fn record_at(log: &Log, pos: u64) -> io::Result<Option<(Record, u64)>> {
    let seal = Seal::Log(&log.key);
    let smallest = (record::HEADER_LEN + record::DIGEST_LEN) as u64;
    if pos.saturating_add(smallest) > log.len {
        return Ok(None);
    }
    let mut head = [0u8; record::HEADER_LEN];
    log.file.read_exact_at(&mut head, pos)?;
    let Some((_, _, len)) = record::header(&head, seal) else {
        return Ok(None);
    };
    let len = len as u64;
    if len > MAX_RECORD || pos + len > log.len {
        return Ok(None);
    }
    let bytes = log::read(&log.file, Span { at: pos, len })?;
    Ok(Record::decode(&bytes, seal).ok().map(|r| (r, len)))
}

/// The first valid record after `pos`, and the end of the last stretch of non-zero bytes
/// read on the way (`pos` if all were zeros).
fn next_record(log: &Log, pos: u64) -> io::Result<(Option<u64>, u64)> {
    let prefix = Seal::Log(&log.key).prefix();
    let zeros = vec![0u8; CHUNK as usize];
    let mut torn_until = pos;
    let mut at = pos;
    while at < log.len {
        let n = (log.len - at).min(CHUNK);
        let chunk = log::read(&log.file, Span { at, len: n })?;
        // Comparing with zeros is a memcmp; most of what is read here is the zeroed room.
        if chunk.as_slice() != zeros.get(..chunk.len()).unwrap_or_default() {
            torn_until = at + n;
            for (i, window) in chunk.windows(prefix.len()).enumerate() {
                let candidate = at + i as u64;
                if candidate > pos && window == prefix && record_at(log, candidate)?.is_some() {
                    return Ok((Some(candidate), torn_until));
                }
            }
        }
        if at + n >= log.len {
            break;
        }
        // Overlap so that a prefix cut by the chunk boundary is still seen.
        at += n - (prefix.len() as u64 - 1);
    }
    Ok((None, torn_until))
}

/// The id a bad record at `span` names, if it still names one.
fn claimed(log: &Log, span: Span) -> io::Result<Option<Key>> {
    // Enough for a header and the longest command id.
    let len = span.len.min(4096);
    let bytes = log::read(&log.file, Span { at: span.at, len })?;
    Ok(record::claimed_key(&bytes, Seal::Log(&log.key)))
}
