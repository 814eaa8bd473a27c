//! The chain status the panel shows: a team's stored chain verified with the appliance's own
//! public key, as an offline verifier would, and remembered so each look only checks what was
//! appended since.
//!
//! A check also compares the end of the stored records with the team's head, so records cut
//! from the end of the store are caught as well as edited or reordered ones.

use std::collections::HashMap;
use std::sync::Mutex;

use super::log::{team_export_page, AuditError, AuditLog};
use super::record::Record;
use super::verify::Problem;
use super::verify_team::verify_team_jsonl;
use crate::model::TeamId;
use crate::store::Store;

/// Records checked per page.
const PAGE: usize = 4096;

/// A team chain's state as last checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// The team has no stored records.
    Empty,
    /// Every stored record from `from` through `through` (team positions) checked out;
    /// `through_seq` is the last one's appliance-wide seq.
    Verified {
        /// The first stored position (above 1 once older records were archived).
        from: u64,
        /// The last position checked.
        through: u64,
        /// Its appliance-wide seq.
        through_seq: u64,
    },
    /// The chain is broken at appliance-wide seq `seq` (or, with `seq` absent, past the end of
    /// what is stored).
    Broken {
        /// The record that failed, when one did.
        seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Checked {
    from: u64,
    position: u64,
    seq: u64,
    hash: String,
}

/// Remembers, per team, how far its chain was verified.
#[derive(Debug, Default)]
pub struct ChainStatusCache {
    teams: Mutex<HashMap<String, Checked>>,
}

impl ChainStatusCache {
    /// An empty cache: the first look at a team checks its whole stored chain.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, team: &str) -> Option<Checked> {
        let teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        teams.get(team).cloned()
    }

    fn put(&self, team: &str, c: Checked) {
        let mut teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        teams.insert(team.to_string(), c);
    }

    fn forget(&self, team: &str) {
        let mut teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        teams.remove(team);
    }
}

impl AuditLog {
    /// Verifies what `team` appended since the last look (all of it the first time) and says
    /// how far the chain holds. Blocking: run it off the async threads.
    pub fn team_chain_status(
        &self,
        store: &Store,
        team: &TeamId,
    ) -> Result<ChainStatus, AuditError> {
        let cache = &self.status;
        let key = self.public_key();
        let mut done = cache.get(&team.0);
        // Archiving removes the oldest records; a remembered start that is gone means start over.
        if let Some(c) = &done {
            let first = store.read(|tx| team_export_page(tx, team, 0, 1))?;
            if first.first().map(|(p, _)| *p) != Some(c.from) {
                cache.forget(&team.0);
                done = None;
            }
        }
        loop {
            let after = done.as_ref().map_or(0, |c| c.position);
            let page = store.read(|tx| team_export_page(tx, team, after, PAGE))?;
            let Some((last_position, last_line)) = page.last().cloned() else {
                break;
            };
            let first: Record = match serde_json::from_str(&page[0].1) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(ChainStatus::Broken {
                        seq: None,
                        reason: format!("a stored record is not readable: {e}"),
                    })
                }
            };
            if let Some(c) = &done {
                if first.team_prev_hash.as_deref() != Some(c.hash.as_str()) {
                    return Ok(ChainStatus::Broken {
                        seq: Some(first.seq),
                        reason: Problem::TeamChainBroken.to_string(),
                    });
                }
            }
            let text: String = page.iter().map(|(_, l)| format!("{l}\n")).collect();
            let report = match verify_team_jsonl(text.as_bytes(), &key, &team.0, None) {
                Ok(r) => r,
                Err(f) => {
                    return Ok(ChainStatus::Broken {
                        seq: f.seq,
                        reason: f.problem.to_string(),
                    })
                }
            };
            let last: Record =
                serde_json::from_str(&last_line).map_err(|e| AuditError::Corrupt {
                    seq: 0,
                    detail: e.to_string(),
                })?;
            let checked = Checked {
                from: done.as_ref().map_or(page[0].0, |c| c.from),
                position: last_position,
                seq: last.seq,
                hash: report.last_hash,
            };
            cache.put(&team.0, checked.clone());
            done = Some(checked);
            if page.len() < PAGE {
                break;
            }
        }
        let head = store.read(|tx| tx.audit_team_head(&team.0))?;
        Ok(match (done, head) {
            (None, None) => ChainStatus::Empty,
            (None, Some((position, _))) => ChainStatus::Broken {
                seq: None,
                reason: format!("the team head names position {position}, no record is stored"),
            },
            (Some(c), head) => {
                let head_position = head.map_or(0, |(p, _)| p);
                let head_hash = head.map(|(_, h)| hex::encode(h));
                if head_position != c.position || head_hash.as_deref() != Some(c.hash.as_str()) {
                    ChainStatus::Broken {
                        seq: None,
                        reason: format!(
                            "the stored records end at position {} but the team head names \
                             position {head_position}: records are missing at the end",
                            c.position
                        ),
                    }
                } else {
                    ChainStatus::Verified {
                        from: c.from,
                        through: c.position,
                        through_seq: c.seq,
                    }
                }
            }
        })
    }
}
