//! Published heads: a team's signed head, written into the team's own chain as an
//! `audit.head_published` record (so it reaches the team's webhooks through the outbox like any
//! other record) and kept as the team's latest published head for the panel.
//!
//! A head names the chain up to the record before the one that publishes it. Anyone who saved
//! it can later run `tundra audit verify --team … --head SAVED` on a fresh export: an export
//! that stops before the head's position, or whose record there has another hash, fails.
//!
//! The schedule publishes a team's head when its chain moved since the last publication and
//! that publication is at least the interval old, so an idle team's chain does not grow by a
//! record an hour.

use serde::{Deserialize, Serialize};

use super::event::AuditEvent;
use super::log::{AuditError, AuditLog};
use super::record::GENESIS_HASH;
use super::team_chain::TeamHead;
use super::AuditContext;
use crate::model::TeamId;
use crate::store::{Store, Table};

/// A team's last published head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedHead {
    /// The signed head.
    pub head: TeamHead,
    /// When it was published (Unix seconds, for the schedule).
    pub published_unix: i64,
    /// Whether the schedule published it.
    pub scheduled: bool,
}

impl PublishedHead {
    /// The team position of the `audit.head_published` record that carried the head: the
    /// one right after the head's (both are written in one transaction).
    pub fn record_position(&self) -> u64 {
        self.head.team_seq + 1
    }
}

impl AuditLog {
    /// Signs `team`'s head now and publishes it: one `audit.head_published` record in the
    /// team's chain, and the team's latest published head, in one transaction.
    pub fn publish_team_head(
        &self,
        store: &Store,
        ctx: &AuditContext,
        team: &TeamId,
        scheduled: bool,
    ) -> Result<PublishedHead, AuditError> {
        store.write(|tx| {
            let (seq, hash) = tx.audit_team_head(&team.0)?.unwrap_or((0, GENESIS_HASH));
            let head = self.sign_team_head(team, seq, &hash);
            let ctx = AuditContext {
                team: Some(team.clone()),
                ..ctx.clone()
            };
            let event = AuditEvent::AuditHeadPublished {
                head: head.clone(),
                scheduled,
            };
            self.append(tx, &ctx, &event)?;
            let published = PublishedHead {
                head,
                published_unix: self.now().unix_timestamp(),
                scheduled,
            };
            tx.put_row(Table::PublishedHeads, &team.0, &published)?;
            Ok(published)
        })
    }

    /// Publishes the head of every team whose chain moved since its last publication, when
    /// that publication is at least `interval_secs` old (or there was none). Returns what was
    /// published.
    pub fn publish_due_heads(
        &self,
        store: &Store,
        interval_secs: u64,
    ) -> Result<Vec<PublishedHead>, AuditError> {
        let now = self.now().unix_timestamp();
        let interval = i64::try_from(interval_secs).unwrap_or(i64::MAX);
        let due: Vec<TeamId> = store.read(|tx| {
            let mut due = Vec::new();
            for (team, position) in tx.audit_team_heads()? {
                let last: Option<PublishedHead> = tx.row(Table::PublishedHeads, &team)?;
                let is_due = match last {
                    None => position > 0,
                    Some(p) => {
                        position > p.record_position()
                            && now.saturating_sub(p.published_unix) >= interval
                    }
                };
                if is_due {
                    due.push(TeamId(team));
                }
            }
            Ok::<_, AuditError>(due)
        })?;
        let ctx = AuditContext::actor(crate::model::Actor::System);
        due.iter()
            .map(|team| self.publish_team_head(store, &ctx, team, true))
            .collect()
    }
}

/// `team`'s last published head, if any.
pub fn published_head(store: &Store, team: &TeamId) -> Result<Option<PublishedHead>, AuditError> {
    Ok(store.read(|tx| tx.row(Table::PublishedHeads, &team.0))?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::SigningKey;
    use crate::model::Actor;

    fn setup() -> (tempfile::TempDir, Store, AuditLog, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::UNIX_EPOCH));
        let shared: SharedClock = clock.clone();
        (
            dir,
            store,
            AuditLog::new(SigningKey::generate(), shared),
            clock,
        )
    }

    fn record(store: &Store, log: &AuditLog, team: &str) {
        let ctx = AuditContext {
            team: Some(TeamId(team.into())),
            ..AuditContext::actor(Actor::System)
        };
        let e = AuditEvent::TeamCreated { name: "x".into() };
        log.append_alone(store, &ctx, &e).unwrap();
    }

    #[test]
    fn the_schedule_publishes_only_moved_chains_once_per_interval() {
        let (_d, store, log, clock) = setup();
        record(&store, &log, "a");
        record(&store, &log, "a");
        let first = log.publish_due_heads(&store, 3600).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].head.team_seq, 2);
        assert_eq!(first[0].record_position(), 3);
        let carrier: crate::audit::Record = store
            .read(|tx| crate::audit::team_export_page(tx, &TeamId("a".into()), 2, 1))
            .map(|page| serde_json::from_str(&page[0].1).unwrap())
            .unwrap();
        assert_eq!(carrier.action, "audit.head_published");
        first[0].head.verify(&log.public_key()).unwrap();
        // Nothing moved but the publication itself: nothing is due, however late.
        clock.advance(time::Duration::hours(5));
        assert!(log.publish_due_heads(&store, 3600).unwrap().is_empty());
        // Moved, but the last publication is younger than the interval.
        clock.advance(time::Duration::hours(-5) + time::Duration::minutes(10));
        record(&store, &log, "a");
        assert!(log.publish_due_heads(&store, 3600).unwrap().is_empty());
        clock.advance(time::Duration::hours(1));
        let again = log.publish_due_heads(&store, 3600).unwrap();
        assert_eq!(again[0].head.team_seq, 4);
        assert_eq!(
            published_head(&store, &TeamId("a".into())).unwrap(),
            Some(again[0].clone())
        );
    }
}
