//! Keeping the journal within its [`Bounds`](super::Bounds), and its log within twice its
//! live records (compaction).

use std::collections::BTreeSet;

use super::record::{Key, Record};
use super::{Durable, Inner, Journal, Pruned};

impl Journal {
    /// Applies the [`Bounds`](super::Bounds) as of `now_ms`, then compacts the log if more
    /// than half of it is dead. Failures are logged, never fatal: a result that cannot be
    /// stripped keeps its output, and a log that cannot be compacted stays long, which only
    /// costs space.
    pub fn prune(&self, now_ms: i64) -> Pruned {
        let mut inner = self.lock();
        let mut done = Pruned::default();
        let b = self.bounds;
        let expired = |at_ms: i64, ttl_ms: i64| now_ms.saturating_sub(at_ms) > ttl_ms;

        let mut total = inner.ages.results_bytes;
        let mut due = Vec::new();
        for (at_ms, key) in &inner.ages.results {
            if !expired(*at_ms, b.result_ttl_ms) && total <= b.results_bytes_max {
                break;
            }
            total = total.saturating_sub(inner.index.get(key).map_or(0, |s| s.span.len));
            due.push(*key);
        }
        for key in due {
            if strip(&mut inner, key, now_ms) {
                done.stripped += 1;
            }
        }

        // The oldest tombstones beyond the newest `tombstones_max`, and every tombstone or
        // *started* id past its age. (Only tombstones count: a *started* record may belong
        // to a running command.)
        let ages = &inner.ages;
        let over = ages.tombstones.len().saturating_sub(b.tombstones_max);
        let aged = |at_ms: i64| expired(at_ms, b.tombstone_ttl_ms);
        let gone: Vec<Key> = ages
            .tombstones
            .iter()
            .take(over)
            .map(|e| e.1)
            .chain(oldest_while(&ages.tombstones, over, aged))
            .chain(oldest_while(&ages.started, 0, aged))
            .collect();
        for key in gone {
            // Index only: its record is dead space until compaction, and a restart before
            // then finds it past the same bounds again.
            inner.forget(&key);
            done.removed += 1;
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

/// The keys in `set` after the first `skip`, oldest first, while `due` says so.
fn oldest_while<'a>(
    set: &'a BTreeSet<(i64, Key)>,
    skip: usize,
    due: impl Fn(i64) -> bool + 'a,
) -> impl Iterator<Item = Key> + 'a {
    set.iter()
        .skip(skip)
        .take_while(move |(at_ms, _)| due(*at_ms))
        .map(|e| e.1)
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
