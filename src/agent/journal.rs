//! The idempotency journal: `command_id` is the key, and a command id this agent has seen is
//! never run again — not after a reconnect, not after a restart.
//!
//! # On disk
//!
//! `<state dir>/commands/` (0700) holds one file per command id, named by the hex SHA-256 of
//! the id (ids come from the network; hashing keeps them out of path syntax), mode 0600,
//! holding one checksummed record (format: `journal/record.rs`):
//!
//! 1. *started*: created with `O_EXCL` and fsynced (file and dir) **before** the command runs;
//! 2. *finished*: the signed `CommandResult` and the kept stdout/stderr, written to
//!    `.<name>.tmp`, fsynced and renamed over (1), dir fsynced;
//! 3. *tombstone*: after `CommandAck` (or when pruned unacknowledged), the result without
//!    its output, replacing (2) the same way.
//!
//! A file that cannot be read back (torn, edited) is logged and treated as *started, no
//! result*: the command may have run, so it is answered `INTERRUPTED`, never run again.
//!
//! # Bounds
//!
//! See [`Bounds`]: tombstones are forgotten after 30 days or beyond the newest 10,000 (an id
//! forgotten that way could run again if the appliance re-sent it); unacknowledged results
//! lose their output after 24 h, or oldest first when they hold more than 64 MiB in all,
//! and become tombstones. All methods do file I/O and fsync: call them off the async thread.

mod bounds;
mod record;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use record::{Kind, Record};

use super::AgentError;
use crate::crypto::digest::sha256;
use crate::proto::agent::CommandResult;

/// The journal's directory in the state dir.
pub const DIR: &str = "commands";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A file larger than this is not one the journal wrote (16 MiB output cap plus slack).
const MAX_FILE: u64 = 32 << 20;

/// How much the journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The most tombstones kept (the newest).
    pub tombstones_max: usize,
    /// Tombstones and orphaned *started* records older than this are deleted.
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
    /// It was started and no result was recorded: the agent stopped while it ran, or the
    /// file is damaged (`damaged` says how).
    Started {
        /// When it started (0 if damaged).
        started_ms: i64,
        /// SHA-256 of the command text run (empty if damaged).
        command_sha256: Vec<u8>,
        /// Why the file could not be read, if it could not.
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
    /// Files deleted.
    pub removed: usize,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    kind: Kind,
    at_ms: i64,
    bytes: u64,
}

/// The journal in one state dir. Writers are serialized; readers see whole files only.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    bounds: Bounds,
    index: Mutex<HashMap<String, Meta>>,
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
        let journal = Self {
            index: Mutex::new(bounds::scan(&dir)?),
            dir,
            bounds,
        };
        journal.prune(now_ms);
        Ok(journal)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for `command_id`.
    pub fn path_of(&self, command_id: &str) -> PathBuf {
        self.dir.join(file_name(command_id))
    }

    /// What is known about `command_id`. A damaged file is logged and reported as
    /// [`Entry::Started`]; `Err` is an I/O failure (the caller must not run the command).
    pub fn lookup(&self, command_id: &str) -> Result<Entry, AgentError> {
        let path = self.path_of(command_id);
        let bytes = match read_limited(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Entry::Unknown),
            Err(source) => return Err(io(&path, source)),
        };
        let damaged = |reason: String| {
            tracing::error!(path = %path.display(), %reason, command_id, "damaged command journal file: treating the command as interrupted");
            Entry::Started {
                started_ms: 0,
                command_sha256: Vec::new(),
                damaged: Some(reason),
            }
        };
        let record = match Record::decode(&bytes) {
            Ok(r) if r.command_id() == command_id => r,
            Ok(r) => return Ok(damaged(format!("holds command id {:?}", r.command_id()))),
            Err(reason) => return Ok(damaged(reason)),
        };
        Ok(match record {
            Record::Started {
                command_sha256,
                at_ms,
                ..
            } => Entry::Started {
                started_ms: at_ms,
                command_sha256,
                damaged: None,
            },
            Record::Finished {
                result,
                stdout,
                stderr,
                ..
            } => Entry::Finished {
                result,
                stdout,
                stderr,
            },
            Record::Tombstone { result, acked, .. } => Entry::Forgotten { result, acked },
        })
    }

    /// Durably records that `command_id` is about to run. `Ok(false)`: the journal already
    /// has a file for it, so it must not run.
    pub fn begin(
        &self,
        command_id: &str,
        request_id: &str,
        command_sha256: &[u8],
        started_ms: i64,
    ) -> Result<bool, AgentError> {
        let mut index = self.lock();
        let name = file_name(command_id);
        let path = self.dir.join(&name);
        let bytes = Record::Started {
            command_id: command_id.into(),
            request_id: request_id.into(),
            command_sha256: command_sha256.to_vec(),
            at_ms: started_ms,
        }
        .encode();
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(source) => return Err(io(&path, source)),
        };
        // A failure after the create leaves a damaged file: read back as "started", which
        // is what it is.
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|source| io(&path, source))?;
        self.sync_dir()?;
        index.insert(
            name,
            Meta {
                kind: Kind::Started,
                at_ms: started_ms,
                bytes: bytes.len() as u64,
            },
        );
        Ok(true)
    }

    /// Durably records the result of `command_id` with the output it covers (replacing its
    /// *started* record, if any), then applies the bounds.
    pub fn finish(
        &self,
        command_id: &str,
        result: &CommandResult,
        stdout: &[u8],
        stderr: &[u8],
        now_ms: i64,
    ) -> Result<(), AgentError> {
        let bytes = record::encode_finished(command_id, result, stdout, stderr, now_ms);
        {
            let mut index = self.lock();
            self.replace(&mut index, command_id, (Kind::Finished, now_ms), &bytes)?;
        }
        self.prune(now_ms);
        Ok(())
    }

    /// The appliance stored the result of `command_id`: drop its output, keep a tombstone.
    /// `Ok(false)`: there was no stored result (unknown, still running, already forgotten).
    pub fn ack(&self, command_id: &str, now_ms: i64) -> Result<bool, AgentError> {
        let done = {
            let mut index = self.lock();
            match self.lookup(command_id)? {
                Entry::Finished { result, .. } => {
                    self.to_tombstone(&mut index, command_id, result, true, now_ms)?;
                    true
                }
                _ => false,
            }
        };
        if done {
            self.prune(now_ms);
        }
        Ok(done)
    }

    fn to_tombstone(
        &self,
        index: &mut HashMap<String, Meta>,
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
        self.replace(index, command_id, record.kind_and_time(), &record.encode())
    }

    /// Atomically replaces the file of `command_id` with a record's `bytes` (tmp, fsync,
    /// rename, fsync the dir) and indexes it.
    fn replace(
        &self,
        index: &mut HashMap<String, Meta>,
        command_id: &str,
        (kind, at_ms): (Kind, i64),
        bytes: &[u8],
    ) -> Result<(), AgentError> {
        let name = file_name(command_id);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|source| io(&tmp, source))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|source| io(&tmp, source))?;
        fs::rename(&tmp, &path).map_err(|source| io(&path, source))?;
        self.sync_dir()?;
        index.insert(
            name,
            Meta {
                kind,
                at_ms,
                bytes: bytes.len() as u64,
            },
        );
        Ok(())
    }

    fn sync_dir(&self) -> Result<(), AgentError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io(&self.dir, source))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Meta>> {
        // The index is rebuilt from files on open; a panic elsewhere leaves it usable.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file name for a command id: hex SHA-256, so any id maps to a plain name.
fn file_name(command_id: &str) -> String {
    hex::encode(sha256(command_id.as_bytes()))
}

fn is_entry_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn io(path: &Path, source: std::io::Error) -> AgentError {
    AgentError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
