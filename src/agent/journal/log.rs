//! The log file itself: a 72-byte header, records back to back, then zeros up to the file's
//! length. Appending is a `pwrite` into those zeros — space the file system has already
//! allocated and written — so making it durable is an `fdatasync` that changes no
//! metadata. Only extending the file (in [`STEP`]s, or more for a big record) changes its
//! size, and that is fsynced once per extension — the file only: its directory entry does
//! not change, so there is nothing in the directory to sync.
//!
//! A log only comes into being whole: it is written as [`TMP`], fsynced, renamed to [`LOG`]
//! and the directory fsynced. That is how a new log is created and how compaction replaces
//! one, so whatever a crash interrupts, [`LOG`] is either the old log or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::digest::sha256;
use crate::crypto::random;

/// The log's file name in the journal's directory.
pub const LOG: &str = "journal.log";
/// A log being written (created, or compacted into); it is not the log until renamed.
pub const TMP: &str = ".journal.log.tmp";
/// Zeros are written ahead of the records this much at a time.
pub const STEP: u64 = 1 << 20;
/// Where the first record goes: after the magic, the key and their digest.
pub const HEADER_LEN: u64 = 72;
const MAGIC: &[u8; 8] = b"TJLOG\0\0\x01";

/// Where one record lies in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Its first byte.
    pub at: u64,
    /// Its length.
    pub len: u64,
}

/// An open log. `end` is where the next record goes; `len` is the file's length, all of it
/// written (records, then zeros) and fsynced.
#[derive(Debug)]
pub struct Log {
    /// Shared so that a read can go on outside the journal's lock, from the file it began
    /// on even if compaction replaces it meanwhile.
    pub file: Arc<File>,
    /// The key the records are sealed with.
    pub key: [u8; 32],
    /// Where the next record goes.
    pub end: u64,
    /// The file's length.
    pub len: u64,
}

impl Log {
    /// Opens the log at `path`: `Ok(None)` if there is none. Its records are not read.
    pub fn open(path: &Path) -> io::Result<Option<Self>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let mut head = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => bad_header(),
                _ => e,
            })?;
        let (magic, rest) = head.split_at(MAGIC.len());
        let (key, check) = rest.split_at(32);
        let key = <[u8; 32]>::try_from(key).map_err(|_| bad_header())?;
        if magic != MAGIC || check != header_check(&key) {
            return Err(bad_header());
        }
        Ok(Some(Self {
            file: Arc::new(file),
            key,
            end: HEADER_LEN,
            len,
        }))
    }

    /// Makes room for `len` more bytes of records: extends the file with zeros (and fsyncs
    /// it) if they do not fit. A failure leaves the records as they were.
    pub fn reserve(&mut self, len: u64) -> io::Result<()> {
        let need = self.end + len;
        if need > self.len {
            let to = need.div_ceil(STEP) * STEP;
            write_zeros(&self.file, self.len, to)?;
            // The size changed: this is the one sync that commits file system metadata.
            self.file.sync_all()?;
            self.len = to;
        }
        Ok(())
    }

    /// Writes `bytes` at the end (after [`Log::reserve`]). Not durable until [`Log::sync`].
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<Span> {
        self.reserve(bytes.len() as u64)?;
        let span = Span {
            at: self.end,
            len: bytes.len() as u64,
        };
        self.file.write_all_at(bytes, span.at)?;
        self.end += span.len;
        Ok(span)
    }

    /// Makes everything appended so far durable (data only: nothing else changed).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Reads the bytes of `span` from `file`.
pub fn read(file: &File, span: Span) -> io::Result<Vec<u8>> {
    let len = usize::try_from(span.len).map_err(|_| io::Error::other("span too long"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, span.at)?;
    Ok(bytes)
}

/// Overwrites `from..to` of `file` with zeros (also past its end).
pub fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; usize::try_from(STEP.min(to.saturating_sub(from))).unwrap_or(0)];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64);
        file.write_all_at(zeros.get(..n as usize).unwrap_or_default(), at)?;
        at += n;
    }
    Ok(())
}

/// A log being written as [`TMP`], not yet installed.
pub struct Fresh {
    path: PathBuf,
    file: File,
    key: [u8; 32],
    end: u64,
}

/// Where [`Fresh::install`] stops, so tests can leave the files as a crash would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub enum Stop {
    /// Go all the way.
    Never,
    /// Before the rename: [`TMP`] is complete and fsynced, [`LOG`] is still the old log.
    BeforeRename,
    /// After the rename, before the directory is fsynced.
    BeforeDirSync,
}

impl Fresh {
    /// Starts [`TMP`] in `dir` (replacing a leftover), with a header for `key`.
    pub fn start(dir: &Path, key: [u8; 32]) -> io::Result<Self> {
        let path = dir.join(TMP);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(MAGIC)?;
        file.write_all(&key)?;
        file.write_all(&header_check(&key))?;
        Ok(Self {
            path,
            file,
            key,
            end: HEADER_LEN,
        })
    }

    /// A key for a new log: random, so bytes from another log (or a command) never verify.
    pub fn new_key() -> [u8; 32] {
        random::bytes::<32>()
    }

    /// Writes the next record.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<Span> {
        let span = Span {
            at: self.end,
            len: bytes.len() as u64,
        };
        self.file.write_all_at(bytes, span.at)?;
        self.end += span.len;
        Ok(span)
    }

    /// Gives up before the rename: removes [`TMP`].
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Pads with zeros to a [`STEP`] of room, fsyncs, renames over [`LOG`] and fsyncs the
    /// directory. `Ok(None)`: stopped at `stop` (tests only).
    pub fn install(self, dir: &Path, stop: Stop) -> Result<Option<Log>, Install> {
        let len = (self.end + 1).div_ceil(STEP) * STEP;
        let written = write_zeros(&self.file, self.end, len).and_then(|()| self.file.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&self.path);
            return Err(Install::OldKept(e));
        }
        if stop == Stop::BeforeRename {
            return Ok(None);
        }
        if let Err(e) = fs::rename(&self.path, dir.join(LOG)) {
            let _ = fs::remove_file(&self.path);
            return Err(Install::OldKept(e));
        }
        if stop == Stop::BeforeDirSync {
            return Ok(None);
        }
        // From here the old log is gone from the directory: appending to it would be lost.
        sync_dir(dir).map_err(Install::Renamed)?;
        Ok(Some(Log {
            file: Arc::new(self.file),
            key: self.key,
            end: self.end,
            len,
        }))
    }
}

/// Why [`Fresh::install`] failed.
#[derive(Debug)]
pub enum Install {
    /// Before the rename: the old log is still the log (and [`TMP`] is removed).
    OldKept(io::Error),
    /// After it: the rename may or may not survive a crash, so nothing may be appended to
    /// either file until the journal is opened again.
    Renamed(io::Error),
}

/// Fsyncs `dir` (makes a create, rename or removal in it durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn header_check(key: &[u8; 32]) -> [u8; 32] {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(key);
    sha256(&bytes)
}

fn bad_header() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "not a command journal log (bad header). The agent runs no commands while it cannot \
         read it; to start an empty journal move it aside, knowing that commands it recorded \
         could then run again if the appliance sent them again",
    )
}
