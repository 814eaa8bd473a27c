//! Keeping the journal within its [`Bounds`](super::Bounds), and its log within twice its
//! live records (compaction).

use super::record::{Key, Record};
use super::{Durable, Inner, Journal, Pruned, State};

impl Journal {
    /// Applies the [`Bounds`](super::Bounds) as of `now_ms`, then compacts the log if more
    /// than half of it is dead. Failures are logged, never fatal: a result that cannot be
    /// stripped keeps its output, and a log that cannot be compacted stays long, which only
    /// costs space.
    pub fn prune(&self, now_ms: i64) -> Pruned {
        let mut inner = self.lock();
        let mut done = Pruned::default();
        let b = self.bounds;

        let mut results: Vec<(i64, Key, u64)> = inner
            .index
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Finished))
            .map(|(k, s)| (s.at_ms, *k, s.span.len))
            .collect();
        results.sort_unstable();
        let mut total: u64 = results.iter().map(|r| r.2).sum();
        for (at_ms, key, bytes) in results {
            let expired = now_ms.saturating_sub(at_ms) > b.result_ttl_ms;
            if !expired && total <= b.results_bytes_max {
                break;
            }
            total = total.saturating_sub(bytes);
            if strip(&mut inner, key, now_ms) {
                done.stripped += 1;
            }
        }

        let mut markers: Vec<(i64, Key, bool)> = inner
            .index
            .iter()
            .filter(|(_, s)| !matches!(s.state, State::Finished))
            .map(|(k, s)| (s.at_ms, *k, matches!(s.state, State::Tombstone { .. })))
            .collect();
        // Newest first, so the count bound keeps the head.
        markers.sort_unstable_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        let mut tombstones = 0usize;
        for (at_ms, key, is_tombstone) in markers {
            let expired = now_ms.saturating_sub(at_ms) > b.tombstone_ttl_ms;
            // Only tombstones count: a *started* record may belong to a running command.
            let over = is_tombstone && {
                tombstones += 1;
                tombstones > b.tombstones_max
            };
            if expired || over {
                // Index only: its record is dead space until compaction, and a restart
                // before then finds it past the same bounds again.
                inner.forget(&key);
                done.removed += 1;
            }
        }
        if done != Pruned::default() {
            tracing::info!(
                stripped = done.stripped,
                removed = done.removed,
                "pruned the command journal"
            );
        }
        if inner.wants_compaction() {
            inner.compact_logged(&self.dir);
        }
        done
    }
}

/// Turns the result of `key` into an unacknowledged tombstone.
fn strip(inner: &mut Inner, key: Key, now_ms: i64) -> bool {
    let Some(span) = inner.index.get(&key).map(|s| s.span) else {
        return false;
    };
    match inner.read(span) {
        Ok(Record::Finished {
            command_id, result, ..
        }) => match inner.tombstone(key, &command_id, result, false, now_ms) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not drop an unacknowledged command output");
                false
            }
        },
        other => {
            let reason = match other {
                Ok(_) => "its record is not a result".to_string(),
                Err(reason) => reason,
            };
            tracing::warn!(%reason, "a kept command result cannot be read back; answering it as interrupted");
            if let Err(e) = inner.damaged(key, reason, now_ms, Durable::Later) {
                tracing::warn!(error = %e, "could not record a damaged command result");
            }
            false
        }
    }
}
