//! The log and its index behind the journal's lock: opening (and repairing what a crash
//! left), appending, and the bookkeeping of which bytes are live.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::log::{self, Fresh, Log, Span, Stop, LOG, TMP};
use super::record::{Key, Record, Seal};
use super::{io, scan, slot_of, Slot, State, MAX_RECORD};
use crate::agent::AgentError;
use crate::proto::agent::CommandResult;

/// Whether an append must be durable before the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durable {
    Now,
    Later,
}

/// The log and its index, behind the journal's lock.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) path: PathBuf,
    pub(super) log: Log,
    pub(super) index: HashMap<Key, Slot>,
    /// The index's ids by age, for pruning.
    pub(super) ages: Ages,
    /// Bytes of the records the index points to (the rest of the log is dead).
    pub(super) live: u64,
    /// Set by a failed write: nothing more is written until the journal is opened again.
    pub(super) broken: Option<String>,
}

/// The index's ids ordered by the time of their state, one set per kind of state, so that
/// pruning finds what is due without walking (or sorting) up to 10,000 tombstones after
/// every command.
#[derive(Debug, Default)]
pub(super) struct Ages {
    /// Kept results, oldest first.
    pub(super) results: BTreeSet<(i64, Key)>,
    /// The bytes of their records.
    pub(super) results_bytes: u64,
    /// Tombstones, oldest first.
    pub(super) tombstones: BTreeSet<(i64, Key)>,
    /// *Started* and *damaged* ids, oldest first.
    pub(super) started: BTreeSet<(i64, Key)>,
}

impl Ages {
    fn add(&mut self, key: Key, slot: &Slot) {
        match slot.state {
            State::Finished => {
                self.results.insert((slot.at_ms, key));
                self.results_bytes += slot.span.len;
            }
            State::Tombstone { .. } => {
                self.tombstones.insert((slot.at_ms, key));
            }
            State::Started { .. } | State::Damaged { .. } => {
                self.started.insert((slot.at_ms, key));
            }
        }
    }

    fn remove(&mut self, key: Key, slot: &Slot) {
        match slot.state {
            State::Finished => {
                self.results.remove(&(slot.at_ms, key));
                self.results_bytes = self.results_bytes.saturating_sub(slot.span.len);
            }
            State::Tombstone { .. } => {
                self.tombstones.remove(&(slot.at_ms, key));
            }
            State::Started { .. } | State::Damaged { .. } => {
                self.started.remove(&(slot.at_ms, key));
            }
        }
    }
}

impl Inner {
    /// Opens the log in `dir` (creating an empty one), reads it back and repairs what a
    /// crash left: a torn tail is zeroed, damaged ids get their *damaged* record.
    pub(super) fn open(dir: &Path, now_ms: i64) -> Result<Self, AgentError> {
        let path = dir.join(LOG);
        let existing = Log::open(&path).map_err(|source| io(&path, source))?;
        let Some(log) = existing else {
            let fresh = Fresh::start(dir, Fresh::new_key()).map_err(|source| io(dir, source))?;
            let log = match fresh.install(dir, Stop::Never) {
                Ok(Some(log)) => log,
                Ok(None) => return Err(io(&path, std::io::Error::other("log not installed"))),
                Err(log::Install::OldKept(e) | log::Install::Renamed(e)) => {
                    return Err(io(&path, e))
                }
            };
            return Ok(Self::with(path, log, HashMap::new()));
        };
        // A compaction that never reached its rename: the log is still the old one.
        let _ = fs::remove_file(dir.join(TMP));
        let found = scan::scan(&log, now_ms).map_err(|source| io(&path, source))?;
        let mut inner = Self::with(path, log, found.index);
        inner.log.end = found.tail.end;
        if found.tail.torn_until > found.tail.end {
            tracing::warn!(
                offset = found.tail.end,
                bytes = found.tail.torn_until - found.tail.end,
                "discarding a command journal record torn by a crash (it was never confirmed)"
            );
            log::write_zeros(&inner.log.file, found.tail.end, found.tail.torn_until)
                .and_then(|()| inner.log.sync())
                .map_err(|source| io(&inner.path, source))?;
        }
        for (span, named) in &found.damage {
            tracing::error!(
                offset = span.at,
                bytes = span.len,
                named_its_id = named,
                "the command journal log is damaged; the id recorded there is answered as \
                 interrupted if it is known, and may be forgotten if it is not"
            );
        }
        let marks = !found.unsaved.is_empty();
        for key in found.unsaved {
            let Some(Slot {
                state: State::Damaged { reason },
                at_ms,
                ..
            }) = inner.index.get(&key).cloned()
            else {
                continue;
            };
            inner.damaged(key, reason, at_ms, Durable::Later)?;
        }
        if marks {
            inner.sync()?;
        }
        Ok(inner)
    }

    pub(super) fn with(path: PathBuf, log: Log, index: HashMap<Key, Slot>) -> Self {
        let mut inner = Self {
            path,
            log,
            index: HashMap::with_capacity(index.len()),
            ages: Ages::default(),
            live: 0,
            broken: None,
        };
        for (key, slot) in index {
            inner.set(key, slot);
        }
        inner
    }

    pub(super) fn seal(&self) -> Seal<'_> {
        Seal::Log(&self.log.key)
    }

    /// Indexes `slot` as the state of `key`.
    pub(super) fn set(&mut self, key: Key, slot: Slot) {
        self.forget(&key);
        self.live += slot.span.len;
        self.ages.add(key, &slot);
        self.index.insert(key, slot);
    }

    /// Forgets `key` (its records stay until compaction).
    pub(super) fn forget(&mut self, key: &Key) {
        if let Some(old) = self.index.remove(key) {
            self.live = self.live.saturating_sub(old.span.len);
            self.ages.remove(*key, &old);
        }
    }

    /// Appends one record (synced if `durable` is `Now`).
    pub(super) fn append(&mut self, bytes: &[u8], durable: Durable) -> Result<Span, AgentError> {
        if let Some(why) = &self.broken {
            let message = format!(
                "the command journal stopped writing after a failure ({why}); restart the agent"
            );
            return Err(io(&self.path, std::io::Error::other(message)));
        }
        if bytes.len() as u64 > MAX_RECORD {
            let message = format!(
                "a record of {} bytes is over the journal's limit",
                bytes.len()
            );
            return Err(io(&self.path, std::io::Error::other(message)));
        }
        // Extending the file writes only zeros past the records: a failure there (a full
        // disk) costs this record, nothing else.
        self.log
            .reserve(bytes.len() as u64)
            .map_err(|source| io(&self.path, source))?;
        let done = self.log.append(bytes).and_then(|span| match durable {
            Durable::Now => self.log.sync().map(|()| span),
            Durable::Later => Ok(span),
        });
        done.map_err(|source| {
            // Bytes may be on disk half written, and after a failed fsync the kernel may
            // have dropped them: nothing more goes on top until a scan has looked.
            self.broken = Some(source.to_string());
            io(&self.path, source)
        })
    }

    /// Makes every append so far durable.
    pub(super) fn sync(&mut self) -> Result<(), AgentError> {
        self.log.sync().map_err(|source| {
            self.broken = Some(source.to_string());
            io(&self.path, source)
        })
    }

    /// The record at `span`, checked.
    pub(super) fn read(&self, span: Span) -> Result<Record, String> {
        log::read(&self.log.file, span)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Record::decode(&bytes, self.seal()))
    }

    /// Records `result` without its output as the state of `command_id` (not synced).
    pub(super) fn tombstone(
        &mut self,
        key: Key,
        command_id: &str,
        result: CommandResult,
        acked: bool,
        now_ms: i64,
    ) -> Result<(), AgentError> {
        let record = Record::Tombstone {
            command_id: command_id.into(),
            result,
            acked,
            at_ms: now_ms,
        };
        let bytes = record.encode(self.seal());
        let span = self.append(&bytes, Durable::Later)?;
        self.set(key, slot_of(&record, span));
        Ok(())
    }

    /// Records `key` as *damaged*.
    pub(super) fn damaged(
        &mut self,
        key: Key,
        reason: String,
        at_ms: i64,
        durable: Durable,
    ) -> Result<(), AgentError> {
        let record = Record::Damaged { key, reason, at_ms };
        let bytes = record.encode(self.seal());
        let span = self.append(&bytes, durable)?;
        self.set(key, slot_of(&record, span));
        Ok(())
    }
}
