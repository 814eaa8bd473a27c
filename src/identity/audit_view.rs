//! A member's view of their team's audit log: the export (their team's chain only), the
//! signed head, published heads, chain status and a filtered, paged search. Every member may
//! look (SPEC §4 role table); publishing a head is for owners and admins.

use time::OffsetDateTime;

use super::admin::Identity;
use super::error::IdentityError;
use super::session::Principal;
use crate::audit::{
    published_head, team_export_page, AuditContext, ChainStatus, PublishedHead, Record, TeamHead,
};
use crate::clock::parse_rfc3339;
use crate::crypto::PublicKey;
use crate::policy::{allows, Action};

/// Most records one export page returns.
pub const MAX_EXPORT_PAGE: usize = 10_000;
/// Most records one search looks at before it hands back a cursor.
const SEARCH_SCAN: usize = 5_000;

/// What to look for in the team's records (every given part must match).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Part of the actor, e.g. `user:u_1` or `system` (case-insensitive).
    pub actor: Option<String>,
    /// The action, or its prefix ending in `.` or `*` (e.g. `command.` or `command.*`).
    pub action: Option<String>,
    /// Part of the target (case-insensitive).
    pub target: Option<String>,
    /// Records at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Records before this time.
    pub to: Option<OffsetDateTime>,
    /// Only records at team positions below this (the cursor of the previous page).
    pub before: Option<u64>,
    /// Records wanted.
    pub limit: usize,
}

/// One page of a search, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// `(team position, record)`, newest first.
    pub records: Vec<(u64, Record)>,
    /// Pass as `before` for the next (older) page; `None` when nothing older is left.
    pub next_before: Option<u64>,
}

impl AuditQuery {
    fn matches(&self, r: &Record) -> bool {
        let contains =
            |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
        if let Some(a) = &self.actor {
            if !contains(&r.actor.to_string(), a) {
                return false;
            }
        }
        if let Some(a) = &self.action {
            let a = a.trim();
            let ok = match a.strip_suffix('*') {
                Some(prefix) => r.action.starts_with(prefix),
                None if a.ends_with('.') => r.action.starts_with(a),
                None => r.action == a,
            };
            if !ok {
                return false;
            }
        }
        if let Some(t) = &self.target {
            if !r
                .target
                .as_deref()
                .is_some_and(|target| contains(target, t))
            {
                return false;
            }
        }
        if self.from.is_some() || self.to.is_some() {
            let Some(ts) = parse_rfc3339(&r.ts) else {
                return false;
            };
            if self.from.is_some_and(|f| ts < f) || self.to.is_some_and(|t| ts >= t) {
                return false;
            }
        }
        true
    }
}

impl Identity {
    fn check_view(p: &Principal) -> Result<(), IdentityError> {
        p.check_can_act()?;
        if !allows(p.role(), Action::View) {
            return Err(IdentityError::Forbidden);
        }
        Ok(())
    }

    /// Up to `limit` of the team's records after team position `after`, as `(position, JSON
    /// line)`: nothing of any other team.
    pub fn audit_export(
        &self,
        p: &Principal,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, IdentityError> {
        Self::check_view(p)?;
        let limit = limit.clamp(1, MAX_EXPORT_PAGE);
        Ok(self
            .store
            .read(|tx| team_export_page(tx, p.team(), after, limit))?)
    }

    /// The team's signed head now.
    pub fn audit_team_head(&self, p: &Principal) -> Result<TeamHead, IdentityError> {
        Self::check_view(p)?;
        Ok(self.audit.team_head(&self.store, p.team())?)
    }

    /// The team's last published head.
    pub fn audit_published_head(
        &self,
        p: &Principal,
    ) -> Result<Option<PublishedHead>, IdentityError> {
        Self::check_view(p)?;
        Ok(published_head(&self.store, p.team())?)
    }

    /// Publishes the team's head now (owners and admins): a record in the team's chain, so
    /// it reaches the team's webhooks.
    pub fn audit_publish_head(
        &self,
        p: &Principal,
        ctx: &AuditContext,
    ) -> Result<PublishedHead, IdentityError> {
        p.check_can_act()?;
        if !allows(p.role(), Action::ManageFleet) {
            return Err(IdentityError::Forbidden);
        }
        Ok(self
            .audit
            .publish_team_head(&self.store, ctx, p.team(), false)?)
    }

    /// The key that verifies every record and head.
    pub fn audit_public_key(&self) -> PublicKey {
        self.audit.public_key()
    }

    /// Whether the team's stored chain verifies (checking only what is new since the last
    /// look).
    pub fn audit_chain_status(&self, p: &Principal) -> Result<ChainStatus, IdentityError> {
        Self::check_view(p)?;
        Ok(self.audit.team_chain_status(&self.store, p.team())?)
    }

    /// The team's records matching `q`, newest first, one page.
    pub fn audit_search(&self, p: &Principal, q: &AuditQuery) -> Result<AuditPage, IdentityError> {
        Self::check_view(p)?;
        let want = q.limit.clamp(1, 500);
        let mut before = q.before.unwrap_or(u64::MAX);
        let mut records = Vec::new();
        let mut scanned = 0usize;
        loop {
            let batch = self
                .store
                .read(|tx| tx.audit_team_before(&p.team().0, before, 500))?;
            let Some(&(oldest, _, _)) = batch.last() else {
                return Ok(AuditPage {
                    records,
                    next_before: None,
                });
            };
            for (position, seq, bytes) in batch {
                scanned += 1;
                before = position;
                let record: Record = serde_json::from_slice(&bytes).map_err(|e| {
                    IdentityError::Audit(crate::audit::AuditError::Corrupt {
                        seq,
                        detail: e.to_string(),
                    })
                })?;
                if q.matches(&record) {
                    records.push((position, record));
                    if records.len() == want {
                        return Ok(AuditPage {
                            records,
                            next_before: (position > 1).then_some(position),
                        });
                    }
                }
                if scanned >= SEARCH_SCAN {
                    return Ok(AuditPage {
                        records,
                        next_before: (position > 1).then_some(position),
                    });
                }
            }
            if oldest <= 1 {
                return Ok(AuditPage {
                    records,
                    next_before: None,
                });
            }
        }
    }
}
