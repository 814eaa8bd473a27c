//! Rewriting the log with only its live records, once dead ones fill more than half of it.

use std::path::Path;

use super::log::{self, Fresh, Install, Stop, HEADER_LEN};
use super::record::{Key, Record};
use super::{Inner, Slot, State};

/// A log shorter than this is never compacted (rewriting it would gain little).
pub const MIN_LOG: u64 = 8 << 20;

impl Inner {
    /// Whether dead records fill more than half of a log past [`MIN_LOG`].
    pub(super) fn wants_compaction(&self) -> bool {
        let used = self.log.end.saturating_sub(HEADER_LEN);
        self.log.end > MIN_LOG && used.saturating_sub(self.live) > self.live
    }

    /// [`Inner::compact`], logging how it went.
    pub(super) fn compact_logged(&mut self, dir: &Path) {
        let before = self.log.end;
        match self.compact(dir, Stop::Never) {
            Ok(_) => tracing::info!(
                before,
                after = self.log.end,
                ids = self.index.len(),
                "compacted the command journal"
            ),
            Err(Install::OldKept(e)) => {
                tracing::warn!(error = %e, "could not compact the command journal; it keeps its dead records until a compaction succeeds");
            }
            Err(Install::Renamed(e)) => {
                tracing::error!(error = %e, "the compacted command journal may not survive a crash; no more commands are journaled until the agent restarts");
                self.broken = Some(e.to_string());
            }
        }
    }

    /// Writes the live records, in log order, to a new log and installs it. `Ok(false)`:
    /// stopped at `stop` (tests), with the files as a crash there would leave them.
    pub(super) fn compact(&mut self, dir: &Path, stop: Stop) -> Result<bool, Install> {
        let mut order: Vec<(u64, Key)> = self.index.iter().map(|(k, s)| (s.span.at, *k)).collect();
        order.sort_unstable();
        let mut fresh = Fresh::start(dir, self.log.key).map_err(Install::OldKept)?;
        let mut moved = Vec::with_capacity(order.len());
        for (_, key) in order {
            let Some(slot) = self.index.get(&key) else {
                continue;
            };
            let (bytes, damaged) = self.checked_bytes(key, slot);
            match fresh.push(&bytes) {
                Ok(span) => moved.push((key, span, damaged)),
                Err(e) => {
                    fresh.abandon();
                    return Err(Install::OldKept(e));
                }
            }
        }
        let Some(log) = fresh.install(dir, stop)? else {
            return Ok(false);
        };
        self.log = log;
        for (key, span, damaged) in moved {
            if let Some(mut slot) = self.index.get(&key).cloned() {
                slot.span = span;
                if let Some(reason) = damaged {
                    slot.state = State::Damaged { reason };
                }
                self.set(key, slot);
            }
        }
        Ok(true)
    }

    /// The bytes of `slot`'s record, checked: one that fails its checks is carried over as
    /// a *damaged* record instead (and why is returned), so no bad bytes and no id are lost.
    fn checked_bytes(&self, key: Key, slot: &Slot) -> (Vec<u8>, Option<String>) {
        let checked = log::read(&self.log.file, slot.span)
            .map_err(|e| e.to_string())
            .and_then(|bytes| match Record::decode(&bytes, self.seal()) {
                Ok(r) if r.key() == key => Ok(bytes),
                Ok(_) => Err("its record is about another command".to_string()),
                Err(reason) => Err(reason),
            });
        match checked {
            Ok(bytes) => (bytes, None),
            Err(reason) => {
                tracing::error!(%reason, "a command journal record failed its checks while compacting; its command is answered as interrupted");
                let record = Record::Damaged {
                    key,
                    reason: reason.clone(),
                    at_ms: slot.at_ms,
                };
                (record.encode(self.seal()), Some(reason))
            }
        }
    }
}
