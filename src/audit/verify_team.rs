//! Offline verification of one team's export: every record's hash and signature (as for the
//! whole log), every record of the team and of no other, and the team chain — positions
//! without gaps, each `team_prev_hash` the hash of the team's previous record — and, with a
//! saved team head, that nothing was cut off the end.
//!
//! Records written before team chains existed carry no position; they may only come first,
//! are checked one by one and in order of `seq`, and the first chained record must link to
//! the last of them.

use std::io::BufRead;

use super::record::GENESIS_HASH;
use super::team_chain::TeamHead;
use super::verify::{
    check_parallel, fail, first_failure, read_chunk, Checked, Item, Problem, VerifyFailure, CHUNK,
};
use crate::crypto::PublicKey;

/// What a successful verification of a team's export covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamVerifyReport {
    /// The team.
    pub team: String,
    /// Records checked.
    pub records: u64,
    /// The team position of the first chained record (1: the export starts the chain).
    pub first_position: Option<u64>,
    /// The team position of the last record.
    pub last_position: Option<u64>,
    /// Hex hash of the last record.
    pub last_hash: String,
    /// Records from before team chains (checked one by one).
    pub unchained: u64,
    /// Whether a saved team head was checked.
    pub head_checked: bool,
}

#[derive(Default)]
struct TeamChain {
    records: u64,
    unchained: u64,
    last_seq: Option<u64>,
    /// `(position, hash)` of the last chained record.
    prev: Option<(u64, [u8; 32])>,
    /// Hash of the last record without a position.
    last_unchained: Option<[u8; 32]>,
    first_position: Option<u64>,
    head_seen: bool,
}

/// Verifies an export of `team`'s records with the audit public key, and against a saved
/// team `head` if given.
pub fn verify_team_jsonl(
    input: impl BufRead,
    key: &PublicKey,
    team: &str,
    head: Option<&TeamHead>,
) -> Result<TeamVerifyReport, VerifyFailure> {
    if let Some(h) = head {
        if h.team != team || h.verify(key).is_err() {
            return Err(fail(None, 0, Problem::BadHeadSignature));
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut state = TeamChain::default();
    let mut lines = input.lines().enumerate();
    loop {
        let (raw, read_error) = read_chunk(&mut lines);
        let full = raw.len() == CHUNK;
        let (items, bad_sig) = check_parallel(&raw, key, threads);
        let mut structural = None;
        for (p, item) in items.iter().enumerate() {
            if let Err(f) = state.link(item, team, head) {
                structural = Some((p, f));
                break;
            }
        }
        first_failure(&items, bad_sig, structural, read_error)?;
        if !full {
            break;
        }
    }
    state.finish(team, head)
}

impl TeamChain {
    fn link(
        &mut self,
        item: &Item,
        team: &str,
        head: Option<&TeamHead>,
    ) -> Result<(), VerifyFailure> {
        let line = item.line;
        let c: &Checked = item
            .record
            .as_ref()
            .map_err(|e| fail(None, line, Problem::Malformed(e.clone())))?;
        let f = |p| fail(Some(c.seq), line, p);
        if c.team.as_deref() != Some(team) {
            return Err(f(Problem::NotThisTeam));
        }
        if let Some(last) = self.last_seq {
            if c.seq <= last {
                return Err(f(Problem::Reordered { after: last }));
            }
        }
        if c.computed != c.hash {
            return Err(f(Problem::Edited));
        }
        match c.team_seq {
            None => {
                if self.prev.is_some() {
                    return Err(f(Problem::TeamPositionMissing));
                }
                self.unchained += 1;
                self.last_unchained = Some(c.hash);
            }
            Some(pos) => {
                let linked_to = c.team_prev_hash.as_deref().unwrap_or_default();
                match self.prev {
                    None => {
                        self.first_position = Some(pos);
                        let genesis = hex::encode(GENESIS_HASH);
                        let expected = self.last_unchained.map(hex::encode);
                        match expected {
                            Some(h) if linked_to != h => return Err(f(Problem::TeamChainBroken)),
                            None if pos == 1 && linked_to != genesis => {
                                return Err(f(Problem::BadTeamGenesis))
                            }
                            _ => {}
                        }
                    }
                    Some((prev_pos, prev_hash)) => {
                        if pos == prev_pos && c.hash == prev_hash {
                            return Err(f(Problem::Duplicated));
                        }
                        if pos <= prev_pos {
                            return Err(f(Problem::Reordered { after: c.seq }));
                        }
                        if pos > prev_pos + 1 {
                            return Err(f(Problem::TeamDropped {
                                from: prev_pos + 1,
                                to: pos - 1,
                            }));
                        }
                        if linked_to != hex::encode(prev_hash) {
                            return Err(f(Problem::TeamChainBroken));
                        }
                    }
                }
                if let Some(h) = head {
                    if h.team_seq == pos {
                        self.head_seen = true;
                        if h.hash != c.hash_hex {
                            return Err(f(Problem::HeadMismatch));
                        }
                    }
                }
                self.prev = Some((pos, c.hash));
            }
        }
        self.records += 1;
        self.last_seq = Some(c.seq);
        Ok(())
    }

    fn finish(
        self,
        team: &str,
        head: Option<&TeamHead>,
    ) -> Result<TeamVerifyReport, VerifyFailure> {
        if self.records == 0 {
            return Err(fail(None, 0, Problem::Empty));
        }
        let last_hash = self
            .prev
            .map(|(_, h)| h)
            .or(self.last_unchained)
            .map(hex::encode)
            .unwrap_or_default();
        let last_position = self.prev.map(|(p, _)| p);
        if let Some(h) = head {
            let last = last_position.unwrap_or(0);
            if h.team_seq > last {
                return Err(fail(
                    self.last_seq,
                    0,
                    Problem::Truncated {
                        last,
                        head: h.team_seq,
                    },
                ));
            }
            if !self.head_seen && h.team_seq > 0 {
                return Err(fail(
                    None,
                    0,
                    Problem::HeadNotCovered {
                        first: self.first_position.unwrap_or(0),
                    },
                ));
            }
        }
        Ok(TeamVerifyReport {
            team: team.to_string(),
            records: self.records,
            first_position: self.first_position,
            last_position,
            last_hash,
            unchained: self.unchained,
            head_checked: head.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{team_export_page, AuditContext, AuditEvent, AuditLog};
    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::SigningKey;
    use crate::model::{Actor, TeamId};
    use crate::store::Store;

    /// A log where teams a and b interleave; returns a's export lines, b's, and a's head.
    fn exports() -> (
        tempfile::TempDir,
        PublicKey,
        Vec<String>,
        Vec<String>,
        TeamHead,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        let key = SigningKey::generate();
        let public = key.public();
        let clock: SharedClock = Arc::new(ManualClock::new(time::OffsetDateTime::UNIX_EPOCH));
        let log = AuditLog::new(key, clock);
        for (i, team) in ["a", "b", "a", "a", "b", "a"].iter().enumerate() {
            let ctx = AuditContext {
                team: Some(TeamId((*team).into())),
                ..AuditContext::actor(Actor::System)
            };
            let event = AuditEvent::TeamCreated {
                name: format!("n{i}"),
            };
            log.append_alone(&store, &ctx, &event).unwrap();
        }
        let page = |t: &str| -> Vec<String> {
            store
                .read(|tx| team_export_page(tx, &TeamId(t.into()), 0, 100))
                .unwrap()
                .into_iter()
                .map(|(_, l)| l)
                .collect()
        };
        let head = log.team_head(&store, &TeamId("a".into())).unwrap();
        (dir, public, page("a"), page("b"), head)
    }

    fn verify(
        lines: &[String],
        key: &PublicKey,
        head: Option<&TeamHead>,
    ) -> Result<TeamVerifyReport, VerifyFailure> {
        verify_team_jsonl(lines.join("\n").as_bytes(), key, "a", head)
    }

    #[test]
    fn a_teams_export_verifies_alone_and_holds_only_its_records() {
        let (_d, key, a, b, head) = exports();
        assert_eq!(a.len(), 4);
        assert!(a
            .iter()
            .all(|l| l.contains("\"team\":\"a\"") && !l.contains("\"team\":\"b\"")));
        let r = verify(&a, &key, Some(&head)).unwrap();
        assert_eq!(
            (r.records, r.first_position, r.last_position),
            (4, Some(1), Some(4))
        );
        assert!(r.head_checked);
        // From the middle (a page after position 2) it verifies from there.
        assert_eq!(
            verify(&a[2..], &key, Some(&head)).unwrap().first_position,
            Some(3)
        );
        // b's lines are not a's.
        let p = verify(&b, &key, None).unwrap_err().problem;
        assert_eq!(p, Problem::NotThisTeam);
    }

    #[test]
    fn dropped_edited_inserted_reordered_and_cut_off_records_are_named() {
        let (_d, key, a, b, head) = exports();
        let dropped = [a[0].clone(), a[2].clone(), a[3].clone()];
        assert_eq!(
            verify(&dropped, &key, None).unwrap_err().problem,
            Problem::TeamDropped { from: 2, to: 2 }
        );
        let mut edited = a.clone();
        edited[1] = edited[1].replace("\"n2\"", "\"nX\"");
        assert_eq!(
            verify(&edited, &key, None).unwrap_err().problem,
            Problem::Edited
        );
        let inserted = [a[0].clone(), b[0].clone(), a[1].clone()];
        assert_eq!(
            verify(&inserted, &key, None).unwrap_err().problem,
            Problem::NotThisTeam
        );
        let reordered = [a[0].clone(), a[2].clone(), a[1].clone()];
        assert!(verify(&reordered, &key, None).is_err());
        let cut = &a[..3];
        assert_eq!(
            verify(cut, &key, Some(&head)).unwrap_err().problem,
            Problem::Truncated { last: 3, head: 4 }
        );
        let other_key = SigningKey::generate().public();
        assert_eq!(
            verify(&a, &other_key, None).unwrap_err().problem,
            Problem::BadSignature
        );
    }
}
