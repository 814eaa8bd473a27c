//! Team chains: each team's records also form a chain of their own (`team_seq`,
//! `team_prev_hash`, both covered by the record's hash and signature), so a team's export
//! verifies offline — nothing dropped, inserted or reordered, and with a saved team head
//! nothing cut off — while holding no record of any other team.
//!
//! Why not export the appliance-wide chain with other teams' records redacted to their
//! hashes? Every team's export would then carry one placeholder per foreign record, with its
//! place in time. A team chain carries no foreign record at all. What a team's export still
//! shows of the rest of the appliance is what each of its own records' signatures cover: the
//! appliance-wide `seq` and `prev_hash`. So a team can tell how many records the appliance
//! wrote between two of its own, and see the bare hash of the record just before each of its
//! own — a count and opaque digests, never another team's id, actor, action, target or
//! detail. The price of the design is one small head per team in the store, moved in the same
//! transaction as the record.

use serde::{Deserialize, Serialize};

use super::log::{AuditError, AuditLog};
use super::record::{Record, GENESIS_HASH};
use crate::clock::rfc3339;
use crate::crypto::{sign::signature_from_hex, PublicKey, SignatureError, SigningKey};
use crate::model::TeamId;
use crate::store::Store;

const TEAM_HEAD_DOMAIN: &str = "tundra/audit/team-head/v1";
/// Marks a store whose team heads were filled from records written before team chains.
const BACKFILLED: &str = "audit_team_heads_backfilled";

/// A signed statement "team `team`'s chain had `team_seq` records, the last with `hash`, at
/// `ts`": saved by the team, it catches a cut-off tail of the team's export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamHead {
    /// The team.
    pub team: String,
    /// The team chain's newest `team_seq` (0 for a team with no records).
    pub team_seq: u64,
    /// Hex hash of that record.
    pub hash: String,
    /// When the head was signed (RFC 3339, UTC).
    pub ts: String,
    /// Hex Ed25519 signature over `team`, `team_seq`, `hash` and `ts`.
    pub signature: String,
}

fn message(team: &str, team_seq: u64, hash: &str, ts: &str) -> Vec<u8> {
    format!("{team}\n{team_seq}\n{hash}\n{ts}").into_bytes()
}

impl TeamHead {
    /// Signs a team head.
    pub fn sign(team: String, team_seq: u64, hash: String, ts: String, key: &SigningKey) -> Self {
        let m = message(&team, team_seq, &hash, &ts);
        let signature = hex::encode(key.sign(TEAM_HEAD_DOMAIN, &m));
        Self {
            team,
            team_seq,
            hash,
            ts,
            signature,
        }
    }

    /// Checks the head's signature.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        let sig = signature_from_hex(&self.signature)?;
        let m = message(&self.team, self.team_seq, &self.hash, &self.ts);
        key.verify(TEAM_HEAD_DOMAIN, &m, &sig)
    }
}

impl AuditLog {
    /// The signed head of `team`'s chain now.
    pub fn team_head(&self, store: &Store, team: &TeamId) -> Result<TeamHead, AuditError> {
        let (seq, hash) = store
            .read(|tx| tx.audit_team_head(&team.0))?
            .unwrap_or((0, GENESIS_HASH));
        Ok(self.sign_team_head(team, seq, &hash))
    }

    pub(super) fn sign_team_head(&self, team: &TeamId, seq: u64, hash: &[u8; 32]) -> TeamHead {
        TeamHead::sign(
            team.0.clone(),
            seq,
            hex::encode(hash),
            rfc3339(self.now()),
            self.signing_key(),
        )
    }
}

/// Once per store: team heads for teams whose records were all written before team chains
/// existed, so their first chained record links to their last earlier one (`team_seq` =
/// the number of those records + 1). Returns how many teams it set. Runs at start; a store
/// that was filled (or never had team records before schema 5) is left alone.
pub fn backfill_team_heads(store: &Store) -> Result<usize, AuditError> {
    if store.read(|tx| tx.public(BACKFILLED))?.is_some() {
        return Ok(0);
    }
    store.write(|tx| {
        let mut heads: std::collections::BTreeMap<String, (u64, [u8; 32])> = Default::default();
        let mut after = 0;
        loop {
            let page = tx.audit_after_in_write(after, 4096)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = *last;
            for (seq, bytes) in &page {
                let r: Record = serde_json::from_slice(bytes).map_err(|e| AuditError::Corrupt {
                    seq: *seq,
                    detail: e.to_string(),
                })?;
                let (Some(team), Some(hash)) = (&r.team, r.hash_bytes()) else {
                    continue;
                };
                if r.team_seq.is_some() {
                    // Chained already (a store written by this version): nothing to fill.
                    continue;
                }
                let e = heads.entry(team.0.clone()).or_insert((0, GENESIS_HASH));
                *e = (e.0 + 1, hash);
                tx.audit_index_team(&team.0, e.0, *seq)?;
            }
        }
        let mut set = 0;
        for (team, (seq, hash)) in &heads {
            if tx.audit_team_head(team)?.is_none() {
                tx.set_audit_team_head(team, *seq, hash)?;
                set += 1;
            }
        }
        tx.put_public(BACKFILLED, b"1")?;
        Ok::<_, AuditError>(set)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditContext, AuditEvent};
    use crate::clock::{ManualClock, SharedClock};
    use crate::model::Actor;

    fn log() -> (tempfile::TempDir, Store, AuditLog, SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        let key = SigningKey::generate();
        let clock: SharedClock = Arc::new(ManualClock::new(time::OffsetDateTime::UNIX_EPOCH));
        let log = AuditLog::new(SigningKey::from_seed(key.seed().expose()), clock);
        (dir, store, log, key)
    }

    fn ctx(team: Option<&str>) -> AuditContext {
        AuditContext {
            team: team.map(|t| TeamId(t.into())),
            ..AuditContext::actor(Actor::System)
        }
    }

    fn event() -> AuditEvent {
        AuditEvent::ApplianceStarted {
            version: "1".into(),
        }
    }

    #[test]
    fn each_teams_records_chain_to_that_teams_previous_record() {
        let (_d, store, log, key) = log();
        let a1 = log.append_alone(&store, &ctx(Some("a")), &event()).unwrap();
        let none = log.append_alone(&store, &ctx(None), &event()).unwrap();
        let b1 = log.append_alone(&store, &ctx(Some("b")), &event()).unwrap();
        let a2 = log.append_alone(&store, &ctx(Some("a")), &event()).unwrap();
        assert_eq!(
            (a1.team_seq, a2.team_seq, b1.team_seq),
            (Some(1), Some(2), Some(1))
        );
        assert_eq!(
            a1.team_prev_hash.as_deref(),
            Some(hex::encode(GENESIS_HASH).as_str())
        );
        assert_eq!(
            a2.team_prev_hash.as_deref(),
            Some(a1.hash.as_str()),
            "skips b and none"
        );
        assert_eq!((none.team_seq, none.team_prev_hash), (None, None));
        // The links are covered by the hash (and so by the signature).
        let mut edited = a2.clone();
        edited.team_seq = Some(5);
        assert_ne!(edited.compute_hash(), a2.hash_bytes());
        a2.verify_signature(&key.public()).unwrap();

        let head = log.team_head(&store, &TeamId("a".into())).unwrap();
        assert_eq!((head.team_seq, head.hash.as_str()), (2, a2.hash.as_str()));
        head.verify(&key.public()).unwrap();
        let forged = TeamHead {
            team_seq: 1,
            ..head.clone()
        };
        assert!(forged.verify(&key.public()).is_err());
        let empty = log.team_head(&store, &TeamId("c".into())).unwrap();
        assert_eq!(empty.team_seq, 0);
    }

    #[test]
    fn backfill_continues_a_team_chain_from_records_written_before_it() {
        let (_d, store, log, key) = log();
        // Two records of team a as an older version wrote them: no team chain fields.
        for seq in 1..=2u64 {
            store
                .write(|tx| {
                    let prev = match tx.audit_last()? {
                        Some((_, b)) => serde_json::from_slice::<Record>(&b)
                            .unwrap()
                            .hash_bytes()
                            .unwrap(),
                        None => GENESIS_HASH,
                    };
                    let mut r = Record {
                        seq,
                        ts: "1970-01-01T00:00:00.000Z".into(),
                        actor: Actor::System,
                        team: Some(TeamId("a".into())),
                        action: "appliance.started".into(),
                        target: None,
                        request_id: None,
                        policy_result: None,
                        command: None,
                        source_ip: None,
                        detail: serde_json::json!({}),
                        team_seq: None,
                        team_prev_hash: None,
                        prev_hash: hex::encode(prev),
                        hash: String::new(),
                        signature: String::new(),
                    };
                    let h = r.compute_hash().unwrap();
                    r.hash = hex::encode(h);
                    r.signature = hex::encode(key.sign("tundra/audit/record/v1", &h));
                    tx.audit_insert(seq, &serde_json::to_vec(&r).unwrap())
                })
                .unwrap();
        }
        let last_legacy: Record =
            serde_json::from_slice(&store.read(|tx| tx.audit_last()).unwrap().unwrap().1).unwrap();
        assert_eq!(backfill_team_heads(&store).unwrap(), 1);
        assert_eq!(backfill_team_heads(&store).unwrap(), 0, "once per store");
        let next = log.append_alone(&store, &ctx(Some("a")), &event()).unwrap();
        assert_eq!(next.team_seq, Some(3));
        assert_eq!(next.team_prev_hash, Some(last_legacy.hash));
    }
}
