//! Archiving: the oldest records leave the store for a file, and the chain stays whole.
//!
//! Two steps, so nothing is lost whatever fails. First the records below `before` are
//! exported to a file (by the CLI; [`summarize`] describes what was written). Then
//! [`AuditLog::archive`] checks, in one store transaction, that the records below `before`
//! are still exactly those (count, first seq, last hash), removes them with their index
//! entries, and appends an `audit.archived` record carrying the archive file's SHA-256 and
//! the last archived hash: the remaining log starts from that anchor, so it and the archive
//! each verify offline on their own, and together they verify as one chain.

use super::event::AuditEvent;
use super::log::{AuditError, AuditLog};
use super::record::Record;
use super::AuditContext;
use crate::store::Store;

/// What an archive file holds, as its writer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Records with a lower seq were exported.
    pub before: u64,
    /// How many.
    pub records: u64,
    /// Seq of the first.
    pub first_seq: u64,
    /// Hex hash of the last.
    pub last_hash: String,
    /// Hex SHA-256 of the file.
    pub file_sha256: String,
}

/// Describes exported lines (in order) for [`AuditLog::archive`]; `None` when there are none
/// or a line is not a record.
pub fn summarize<'a>(
    before: u64,
    lines: impl IntoIterator<Item = &'a str>,
    file_sha256: String,
) -> Option<ArchiveSummary> {
    let mut records = 0u64;
    let mut first_seq = None;
    let mut last_hash = None;
    for line in lines {
        let r: Record = serde_json::from_str(line).ok()?;
        first_seq.get_or_insert(r.seq);
        last_hash = Some(r.hash);
        records += 1;
    }
    Some(ArchiveSummary {
        before,
        records,
        first_seq: first_seq?,
        last_hash: last_hash?,
        file_sha256,
    })
}

impl AuditLog {
    /// Removes the records below `summary.before` — if they are still exactly what the
    /// archive file holds — and appends the `audit.archived` anchor, in one transaction.
    pub fn archive(
        &self,
        store: &Store,
        ctx: &AuditContext,
        summary: &ArchiveSummary,
    ) -> Result<Record, AuditError> {
        let mismatch = |why: String| AuditError::ArchiveMismatch(why);
        if summary.records == 0 || summary.before <= summary.first_seq {
            return Err(mismatch("the file holds no records below `before`".into()));
        }
        store.write(|tx| {
            let Some((last_seq, _)) = tx.audit_last()? else {
                return Err(mismatch("the log is empty".into()));
            };
            if summary.before > last_seq + 1 {
                return Err(mismatch(format!(
                    "before = {} is past the newest record ({last_seq})",
                    summary.before
                )));
            }
            let oldest = tx.audit_after_in_write(0, 1)?;
            let first_here = oldest.first().map(|(s, _)| *s);
            if first_here != Some(summary.first_seq) {
                return Err(mismatch(format!(
                    "the store's oldest record is {first_here:?}, the file starts at {}",
                    summary.first_seq
                )));
            }
            let last_archived = summary.before - 1;
            let last = tx.audit_after_in_write(last_archived.saturating_sub(1), 1)?;
            let hash = match last.first() {
                Some((seq, bytes)) if *seq == last_archived => {
                    serde_json::from_slice::<Record>(bytes)
                        .map_err(|e| AuditError::Corrupt {
                            seq: *seq,
                            detail: e.to_string(),
                        })?
                        .hash
                }
                _ => {
                    return Err(mismatch(format!(
                        "record {last_archived} is not in the store"
                    )))
                }
            };
            if hash != summary.last_hash {
                return Err(mismatch(format!(
                    "record {last_archived}'s hash differs from the file's last record"
                )));
            }
            let removed = tx.audit_remove_before(summary.before)?;
            if removed != summary.records {
                return Err(mismatch(format!(
                    "the store held {removed} records below {}, the file {}",
                    summary.before, summary.records
                )));
            }
            let event = AuditEvent::AuditArchived {
                before: summary.before,
                records: summary.records,
                first_seq: summary.first_seq,
                last_hash: summary.last_hash.clone(),
                file_sha256: summary.file_sha256.clone(),
            };
            self.append(tx, ctx, &event)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{export_page, verify_jsonl, Problem};
    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::{digest::sha256, SigningKey};
    use crate::model::{Actor, TeamId};

    fn setup(n: usize) -> (tempfile::TempDir, Store, AuditLog, crate::crypto::PublicKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        let key = SigningKey::generate();
        let public = key.public();
        let clock: SharedClock = Arc::new(ManualClock::new(time::OffsetDateTime::UNIX_EPOCH));
        let log = AuditLog::new(key, clock);
        for i in 0..n {
            let ctx = AuditContext {
                team: Some(TeamId(if i % 2 == 0 { "a" } else { "b" }.into())),
                ..AuditContext::actor(Actor::System)
            };
            let e = AuditEvent::TeamCreated {
                name: format!("t{i}"),
            };
            log.append_alone(&store, &ctx, &e).unwrap();
        }
        (dir, store, log, public)
    }

    fn all(store: &Store) -> Vec<String> {
        store.read(|tx| export_page(tx, 0, usize::MAX)).unwrap()
    }

    #[test]
    fn archived_records_leave_and_both_parts_still_verify() {
        let (_d, store, log, key) = setup(10);
        let before_lines = all(&store);
        let archived: Vec<String> = before_lines[..6].to_vec();
        let file = archived.join("\n") + "\n";
        let summary = summarize(
            7,
            archived.iter().map(String::as_str),
            hex::encode(sha256(file.as_bytes())),
        )
        .unwrap();
        let anchor = log
            .archive(&store, &AuditContext::actor(Actor::LocalCli), &summary)
            .unwrap();
        assert_eq!(anchor.action, "audit.archived");
        let left = all(&store);
        assert_eq!(left.len(), 10 - 6 + 1);
        assert!(left[0].contains("\"seq\":7,"), "the log now starts at 7");
        // Each part verifies on its own, and together they are one chain.
        verify_jsonl(file.as_bytes(), &key, None).unwrap();
        let r = verify_jsonl(left.join("\n").as_bytes(), &key, None).unwrap();
        assert_eq!((r.first, r.last), (7, 11));
        let whole = format!("{file}{}", left.join("\n"));
        verify_jsonl(whole.as_bytes(), &key, None).unwrap();
        // The anchor names the last archived hash and the file's digest.
        assert_eq!(anchor.detail["last_hash"], summary.last_hash.as_str());
        assert_eq!(anchor.detail["file_sha256"], summary.file_sha256.as_str());
        // An edit in the archived file is caught.
        let edited = file.replacen("\"t2\"", "\"tX\"", 1);
        assert_eq!(
            verify_jsonl(edited.as_bytes(), &key, None)
                .unwrap_err()
                .problem,
            Problem::Edited
        );
        // A team's export after the archive starts mid-chain and verifies.
        let a: Vec<String> = store
            .read(|tx| crate::audit::team_export_page(tx, &TeamId("a".into()), 0, 100))
            .unwrap()
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let r = crate::audit::verify_team_jsonl(a.join("\n").as_bytes(), &key, "a", None).unwrap();
        assert_eq!(r.first_position, Some(4));
    }

    #[test]
    fn an_archive_that_does_not_match_the_store_removes_nothing() {
        let (_d, store, log, _key) = setup(5);
        let lines = all(&store);
        let ctx = AuditContext::actor(Actor::LocalCli);
        let mut wrong = summarize(4, lines[..3].iter().map(String::as_str), "00".into()).unwrap();
        wrong.last_hash = "11".repeat(32);
        assert!(matches!(
            log.archive(&store, &ctx, &wrong),
            Err(AuditError::ArchiveMismatch(_))
        ));
        let short = summarize(4, lines[..2].iter().map(String::as_str), "00".into()).unwrap();
        assert!(
            log.archive(&store, &ctx, &short).is_err(),
            "the file misses record 3"
        );
        let past = summarize(99, lines.iter().map(String::as_str), "00".into()).unwrap();
        assert!(log.archive(&store, &ctx, &past).is_err());
        assert_eq!(all(&store).len(), 5, "nothing removed");
    }
}
