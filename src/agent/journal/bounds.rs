//! Keeping the journal within its [`Bounds`](super::Bounds), and rebuilding its index from
//! disk at open.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use super::record::{self, Kind, Record};
use super::{io, is_entry_name, read_limited, Journal, Meta, Pruned};
use crate::agent::AgentError;

impl Journal {
    /// Applies the [`Bounds`](super::Bounds) as of `now_ms`. Failures are logged, never fatal: a file that
    /// cannot be pruned stays, which only costs space.
    pub fn prune(&self, now_ms: i64) -> Pruned {
        let mut index = self.lock();
        let mut done = Pruned::default();
        let b = self.bounds;

        let mut results: Vec<(i64, String, u64)> = index
            .iter()
            .filter(|(_, m)| m.kind == Kind::Finished)
            .map(|(n, m)| (m.at_ms, n.clone(), m.bytes))
            .collect();
        results.sort();
        let mut total: u64 = results.iter().map(|r| r.2).sum();
        for (at_ms, name, bytes) in results {
            let expired = now_ms.saturating_sub(at_ms) > b.result_ttl_ms;
            if !expired && total <= b.results_bytes_max {
                break;
            }
            total = total.saturating_sub(bytes);
            if self.strip(&mut index, &name, now_ms) {
                done.stripped += 1;
            }
        }

        let mut markers: Vec<(i64, String, Kind)> = index
            .iter()
            .filter(|(_, m)| m.kind != Kind::Finished)
            .map(|(n, m)| (m.at_ms, n.clone(), m.kind))
            .collect();
        // Newest first, so the count bound keeps the head.
        markers.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        let mut tombstones = 0usize;
        for (at_ms, name, kind) in markers {
            let expired = now_ms.saturating_sub(at_ms) > b.tombstone_ttl_ms;
            // Only tombstones count: a *started* record may belong to a running command.
            let over = kind == Kind::Tombstone && {
                tombstones += 1;
                tombstones > b.tombstones_max
            };
            if expired || over {
                let path = self.dir.join(&name);
                match fs::remove_file(&path) {
                    Ok(()) => done.removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "could not prune a command journal file");
                        continue;
                    }
                }
                index.remove(&name);
            }
        }
        if done != Pruned::default() {
            tracing::info!(
                stripped = done.stripped,
                removed = done.removed,
                "pruned the command journal"
            );
        }
        done
    }

    /// Turns the result in file `name` into an unacknowledged tombstone.
    fn strip(&self, index: &mut HashMap<String, Meta>, name: &str, now_ms: i64) -> bool {
        let path = self.dir.join(name);
        let outcome = read_limited(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| Record::decode(&b));
        match outcome {
            Ok(Record::Finished {
                command_id, result, ..
            }) => match self.to_tombstone(index, &command_id, result, false, now_ms) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "could not drop an unacknowledged command output");
                    false
                }
            },
            other => {
                // Leave the file for lookup to report; stop counting it as a result.
                tracing::warn!(path = %path.display(), outcome = ?other.err(), "command journal file is not a result");
                if let Some(m) = index.get_mut(name) {
                    m.kind = Kind::Started;
                }
                false
            }
        }
    }
}

/// Indexes `dir` from each file's header; removes leftovers of interrupted replacements.
pub(super) fn scan(dir: &Path) -> Result<HashMap<String, Meta>, AgentError> {
    let mut index = HashMap::new();
    for entry in fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let entry = entry.map_err(|source| io(dir, source))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') && name.ends_with(".tmp") {
            // The rename never happened: the old file is still in place.
            let _ = fs::remove_file(&path);
            continue;
        }
        if !is_entry_name(&name) {
            tracing::warn!(path = %path.display(), "ignoring a file the command journal did not write");
            continue;
        }
        let meta = entry.metadata().map_err(|source| io(&path, source))?;
        let mut header = [0u8; record::HEADER_LEN];
        let peeked = File::open(&path)
            .and_then(|mut f| f.read_exact(&mut header))
            .ok()
            .and_then(|()| record::peek(&header));
        let (kind, at_ms) = peeked.unwrap_or_else(|| {
            tracing::error!(path = %path.display(), "damaged command journal file: its command will be answered as interrupted");
            (Kind::Started, mtime_ms(&meta))
        });
        index.insert(
            name,
            Meta {
                kind,
                at_ms,
                bytes: meta.len(),
            },
        );
    }
    Ok(index)
}

pub(super) fn mtime_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
