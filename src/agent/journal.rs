//! The idempotency journal: `command_id` is the key, and a command id this agent has seen is
//! never run again — not after a reconnect, not after a restart.
//!
//! # On disk
//!
//! `<state dir>/commands/` (0700; `flock`ed while an agent has it open, so a second agent on
//! the same state dir is refused) holds one append-only log, `journal.log` (0600): a header
//! with the log's random key, then checksummed records (format: `journal/record.rs`), then
//! zeros. Each record is about one command id, and the latest one for an id is its state:
//!
//! 1. *started*: appended and fdatasynced **before** the command runs;
//! 2. *finished*: the signed `CommandResult` and the kept stdout/stderr, appended and
//!    fdatasynced before the result is sent;
//! 3. *tombstone*: after `CommandAck` (or when pruned unacknowledged), the result without
//!    its output. Appended without a sync of its own: a crash that loses it leaves the id
//!    *finished*, so a retry would replay the result the appliance already stored (it does
//!    not ask again). The next synced record carries it to disk anyway.
//! 4. *damaged*: the id's latest record could not be trusted (below).
//!
//! Why a log: the file is filled with zeros ahead of its records (`journal/log.rs`), so an
//! append overwrites blocks the file system has already allocated and written, and its
//! `fdatasync` has no metadata to commit — a device flush rather than a file-system journal
//! commit for each create, rename and directory fsync. The file grows in 1 MiB steps (or by
//! what a big record needs), each fsynced once.
//!
//! An in-memory index maps each id to its state and to where its latest record lies:
//! [`Journal::lookup`] does no I/O except to read back a kept result.
//!
//! # Crashes and damage
//!
//! Opening scans the log from the start; zeros end it. A record that fails its checks with
//! nothing valid after it is one a crash tore while it was written: it is zeroed and the
//! next record goes there. One *followed* by valid records is damage: it is logged, and the
//! id its header still names is recorded as *damaged* — answered `INTERRUPTED`, never run
//! again (fail closed) — unless a later record for the id supersedes it. (A tombstone torn
//! by a crash while a later record reached the disk reads the same way: the appliance has
//! that result and does not ask for it again.) Damage that destroyed the id itself loses
//! that record: if it was the id's only one, the id reads as never seen. A *finished*
//! record that fails its checks when it is read back later is answered as *damaged* too.
//!
//! An I/O error while appending or syncing stops all writes until the journal is opened
//! again: after a failed fsync the kernel may have dropped the data, and a command that
//! cannot be journaled does not run.
//!
//! Compaction (when more than half of a log past 8 MiB is dead records) writes the live
//! records to `.journal.log.tmp`, fsyncs it, renames it over the log and fsyncs the
//! directory: a crash at any point leaves the old log or the new one, each whole.
//!
//! Earlier agents kept one file per id in this directory; opening moves them into the log,
//! syncs it, and only then deletes them (`journal/migrate.rs`).
//!
//! # Bounds
//!
//! See [`Bounds`]: tombstones are forgotten after 30 days or beyond the newest 10,000 (an id
//! forgotten that way could run again if the appliance re-sent it); unacknowledged results
//! lose their output after 24 h, or oldest first when they hold more than 64 MiB in all,
//! and become tombstones. The log holds the live records, as much again in dead ones before
//! compaction (or 8 MiB), one record being written (at most the 16 MiB output cap plus
//! [`MAX_RECORD`]'s slack) and up to 1 MiB of zeros. All methods may do file I/O and fsync:
//! call them off the async thread.

mod bounds;
mod compact;
mod inner;
mod log;
mod migrate;
mod record;
mod scan;

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use inner::{Durable, Inner};
use log::{Span, LOG};
use record::{key_of, Record, Seal};

use super::AgentError;
use crate::proto::agent::CommandResult;

/// The journal's directory in the state dir.
pub const DIR: &str = "commands";

/// The longest record the journal writes or reads: the 16 MiB output cap and 64 KiB for the
/// result, the id and framing.
pub const MAX_RECORD: u64 = (16 << 20) + (64 << 10);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How much the journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The most tombstones kept (the newest).
    pub tombstones_max: usize,
    /// Tombstones and orphaned *started* records older than this are forgotten.
    pub tombstone_ttl_ms: i64,
    /// Unacknowledged results older than this lose their output.
    pub result_ttl_ms: i64,
    /// Unacknowledged results beyond this many bytes in all lose their output, oldest first.
    pub results_bytes_max: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            tombstones_max: 10_000,
            tombstone_ttl_ms: 30 * DAY_MS,
            result_ttl_ms: DAY_MS,
            results_bytes_max: 64 << 20,
        }
    }
}

/// What the journal knows about a command id.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Never seen (or forgotten past the bounds).
    Unknown,
    /// It was started and no result was recorded: the agent stopped while it ran, or its
    /// record is damaged (`damaged` says how).
    Started {
        /// When it started (0 if damaged).
        started_ms: i64,
        /// SHA-256 of the command text run (empty if damaged).
        command_sha256: Vec<u8>,
        /// Why its record could not be read, if it could not.
        damaged: Option<String>,
    },
    /// Its result and output, to be sent again exactly as the first time.
    Finished {
        /// The signed result.
        result: CommandResult,
        /// Kept stdout.
        stdout: Vec<u8>,
        /// Kept stderr.
        stderr: Vec<u8>,
    },
    /// Its result; the output was dropped (`acked`: because the appliance has it).
    Forgotten {
        /// The signed result as first sent.
        result: CommandResult,
        /// Whether the appliance acknowledged it.
        acked: bool,
    },
}

/// What one [`Journal::prune`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Results whose output was dropped.
    pub stripped: usize,
    /// Ids forgotten (tombstones and orphaned *started* records past their bounds).
    pub removed: usize,
}

/// An id's latest state and where its record lies in the log.
#[derive(Debug, Clone)]
struct Slot {
    at_ms: i64,
    span: Span,
    state: State,
}

/// What [`Journal::lookup`] answers from memory (all but a kept result's output).
#[derive(Debug, Clone)]
enum State {
    Started { command_sha256: Vec<u8> },
    Finished,
    Tombstone { result: CommandResult, acked: bool },
    Damaged { reason: String },
}

fn slot_of(record: &Record, span: Span) -> Slot {
    let state = match record {
        Record::Started { command_sha256, .. } => State::Started {
            command_sha256: command_sha256.clone(),
        },
        Record::Finished { .. } => State::Finished,
        Record::Tombstone { result, acked, .. } => State::Tombstone {
            result: result.clone(),
            acked: *acked,
        },
        Record::Damaged { reason, .. } => State::Damaged {
            reason: reason.clone(),
        },
    };
    Slot {
        at_ms: record.at_ms(),
        span,
        state,
    }
}

/// The journal in one state dir. Writers are serialized; readers see whole records only.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    bounds: Bounds,
    inner: Mutex<Inner>,
    /// The directory, `flock`ed for as long as this journal is open.
    _lock: File,
}

impl Journal {
    /// Opens (creating 0700 if needed) `<state_dir>/commands` with the default bounds, and
    /// prunes it as of `now_ms`.
    pub fn open(state_dir: &Path, now_ms: i64) -> Result<Self, AgentError> {
        Self::open_with(state_dir, Bounds::default(), now_ms)
    }

    /// [`Journal::open`] with other bounds.
    pub fn open_with(state_dir: &Path, bounds: Bounds, now_ms: i64) -> Result<Self, AgentError> {
        let dir = state_dir.join(DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| io(&dir, source))?;
        let mode = fs::metadata(&dir)
            .map_err(|source| io(&dir, source))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(AgentError::Corrupt {
                path: dir,
                message: format!(
                    "mode {:04o} lets other users read stored command output; fix: chmod 0700",
                    mode & 0o7777
                ),
            });
        }
        let lock = lock_dir(&dir)?;
        let mut inner = Inner::open(&dir, now_ms)?;
        migrate::migrate(&mut inner, &dir)?;
        let journal = Self {
            inner: Mutex::new(inner),
            dir,
            bounds,
            _lock: lock,
        };
        journal.prune(now_ms);
        Ok(journal)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// What is known about `command_id`. A damaged record is logged and reported as
    /// [`Entry::Started`]; `Err` is an I/O failure (the caller must not run the command).
    pub fn lookup(&self, command_id: &str) -> Result<Entry, AgentError> {
        let key = key_of(command_id);
        let (file, span, seal_key) = {
            let inner = self.lock();
            let Some(slot) = inner.index.get(&key) else {
                return Ok(Entry::Unknown);
            };
            match &slot.state {
                State::Started { command_sha256 } => {
                    return Ok(Entry::Started {
                        started_ms: slot.at_ms,
                        command_sha256: command_sha256.clone(),
                        damaged: None,
                    })
                }
                State::Tombstone { result, acked } => {
                    return Ok(Entry::Forgotten {
                        result: result.clone(),
                        acked: *acked,
                    })
                }
                State::Damaged { reason } => return Ok(damaged(command_id, reason.clone())),
                State::Finished => (Arc::clone(&inner.log.file), slot.span, inner.log.key),
            }
        };
        // Read outside the lock: an output can be 16 MiB. The file handle stays valid even if
        // compaction replaces the log meanwhile.
        let bytes = log::read(&file, span).map_err(|source| io(&self.log_path(), source))?;
        Ok(match Record::decode(&bytes, Seal::Log(&seal_key)) {
            Ok(Record::Finished {
                command_id: id,
                result,
                stdout,
                stderr,
                ..
            }) if id == command_id => Entry::Finished {
                result,
                stdout,
                stderr,
            },
            Ok(_) => damaged(command_id, "its record is about another command".into()),
            Err(reason) => damaged(command_id, reason),
        })
    }

    /// Durably records that `command_id` is about to run. `Ok(false)`: the journal already
    /// has a record for it, so it must not run.
    pub fn begin(
        &self,
        command_id: &str,
        request_id: &str,
        command_sha256: &[u8],
        started_ms: i64,
    ) -> Result<bool, AgentError> {
        let key = key_of(command_id);
        let mut inner = self.lock();
        if inner.index.contains_key(&key) {
            return Ok(false);
        }
        let record = Record::Started {
            command_id: command_id.into(),
            request_id: request_id.into(),
            command_sha256: command_sha256.to_vec(),
            at_ms: started_ms,
        };
        let bytes = record.encode(inner.seal());
        let span = inner.append(&bytes, Durable::Now)?;
        inner.set(key, slot_of(&record, span));
        Ok(true)
    }

    /// Durably records the result of `command_id` with the output it covers (superseding
    /// its *started* record, if any), then applies the bounds.
    pub fn finish(
        &self,
        command_id: &str,
        result: &CommandResult,
        stdout: &[u8],
        stderr: &[u8],
        now_ms: i64,
    ) -> Result<(), AgentError> {
        {
            let mut inner = self.lock();
            let bytes =
                record::encode_finished(inner.seal(), command_id, result, stdout, stderr, now_ms);
            let span = inner.append(&bytes, Durable::Now)?;
            let slot = Slot {
                at_ms: now_ms,
                span,
                state: State::Finished,
            };
            inner.set(key_of(command_id), slot);
        }
        self.prune(now_ms);
        Ok(())
    }

    /// The appliance stored the result of `command_id`: drop its output, keep a tombstone.
    /// `Ok(false)`: there was no stored result (unknown, still running, already forgotten).
    pub fn ack(&self, command_id: &str, now_ms: i64) -> Result<bool, AgentError> {
        let done = {
            let mut inner = self.lock();
            let key = key_of(command_id);
            match inner.index.get(&key) {
                Some(Slot {
                    state: State::Finished,
                    span,
                    ..
                }) => match inner.read(*span) {
                    Ok(Record::Finished { result, .. }) => {
                        inner.tombstone(key, command_id, result, true, now_ms)?;
                        true
                    }
                    other => {
                        tracing::warn!(command_id, error = ?other.err(), "acknowledged command result cannot be read back");
                        false
                    }
                },
                _ => false,
            }
        };
        if done {
            self.prune(now_ms);
        }
        Ok(done)
    }

    /// How many ids the journal knows.
    #[cfg(test)]
    pub(crate) fn known_ids(&self) -> usize {
        self.lock().index.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The index is rebuilt from the log on open; a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a damaged record reads as: started, no result.
fn damaged(command_id: &str, reason: String) -> Entry {
    tracing::error!(command_id, %reason, "damaged command journal record: treating the command as interrupted");
    Entry::Started {
        started_ms: 0,
        command_sha256: Vec::new(),
        damaged: Some(reason),
    }
}

/// How long opening waits for another holder of the journal's lock to let go.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Takes the directory's `flock`: one agent per journal. Released when the file closes,
/// also when the process dies. Between a `fork` and its `exec` a child briefly holds a copy
/// of every descriptor (they are close-on-exec), so a lock just given up by a journal closed
/// in this process may linger for a moment: a busy lock is retried for [`LOCK_WAIT`].
fn lock_dir(dir: &Path) -> Result<File, AgentError> {
    let handle = File::open(dir).map_err(|source| io(dir, source))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(
            &handle,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(()) => return Ok(handle),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(io(
                    dir,
                    std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "another agent process has this command journal open (one state dir \
                         serves one agent)",
                    ),
                ))
            }
            Err(e) => return Err(io(dir, e.into())),
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> AgentError {
    AgentError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod tests;
