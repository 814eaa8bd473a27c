//! Moving the one-file-per-id layout of earlier agents into the log, once.
//!
//! Each file was named by the hex [`Key`] of its id and held one version-1 record. Every
//! file becomes a record in the log (a file that cannot be read back becomes a *damaged*
//! record under the key its name gives, as the old layout answered it); the log is synced,
//! and only then are the files deleted. A crash before that deletion repeats the move at
//! the next open, which appends the same states again.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::log::{self, LOG, TMP};
use super::record::{self, Key, Record, Seal};
use super::{io, slot_of, Durable, Inner, MAX_RECORD};
use crate::agent::AgentError;

/// Moves the old layout's files in `dir` into `inner`'s log; returns how many.
pub(super) fn migrate(inner: &mut Inner, dir: &Path) -> Result<usize, AgentError> {
    let mut old: Vec<(Key, PathBuf, i64)> = Vec::new();
    let mut leftovers = Vec::new();
    for entry in fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let entry = entry.map_err(|source| io(dir, source))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name == LOG || name == TMP {
            continue;
        }
        if name.starts_with('.') && name.ends_with(".tmp") {
            // An old replacement that never reached its rename: the file it was for stands.
            leftovers.push(path);
            continue;
        }
        let Some(key) = key_of_name(&name) else {
            tracing::warn!(path = %path.display(), "ignoring a file the command journal did not write");
            continue;
        };
        let meta = entry.metadata().map_err(|source| io(&path, source))?;
        old.push((key, path, mtime_ms(&meta)));
    }
    if old.is_empty() && leftovers.is_empty() {
        return Ok(0);
    }
    for (key, path, mtime) in &old {
        let record = read_old(path, *key, *mtime);
        let bytes = record.encode(inner.seal());
        let span = inner.append(&bytes, Durable::Later)?;
        inner.set(*key, slot_of(&record, span));
    }
    // Every id is in the log, durably, before the first file that knew it goes.
    inner.sync()?;
    for path in old.iter().map(|o| &o.1).chain(&leftovers) {
        if let Err(e) = fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a command journal file already moved into the log");
        }
    }
    log::sync_dir(dir).map_err(|source| io(dir, source))?;
    tracing::info!(
        moved = old.len(),
        "moved the command journal's files into its log"
    );
    Ok(old.len())
}

/// The record a file of the old layout stands for.
fn read_old(path: &Path, key: Key, mtime_ms: i64) -> Record {
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|f| f.take(MAX_RECORD + 1).read_to_end(&mut bytes));
    let decoded = read
        .map_err(|e| e.to_string())
        .and_then(|_| Record::decode(&bytes, Seal::File));
    let reason = match decoded {
        Ok(Record::Damaged { .. }) => "a damaged mark in a file of the old layout".to_string(),
        Ok(r) if r.key() == key => return r,
        Ok(_) => "the file holds another command id's record".to_string(),
        Err(reason) => reason,
    };
    tracing::error!(path = %path.display(), %reason, "damaged command journal file: its command will be answered as interrupted");
    // As the old layout aged it: by the time in its header if that is readable.
    let at_ms = record::header(&bytes, Seal::File).map_or(mtime_ms, |(_, at_ms, _)| at_ms);
    Record::Damaged { key, reason, at_ms }
}

/// The key an old file's name gives: 64 lowercase hex digits.
fn key_of_name(name: &str) -> Option<Key> {
    if name.len() != 64 || name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Key::try_from(hex::decode(name).ok()?).ok()
}

pub(super) fn mtime_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
