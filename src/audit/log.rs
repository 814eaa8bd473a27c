//! Appending to the chain, reading pages of it and signing its head.

use std::sync::{Arc, Mutex, OnceLock};

use crate::clock::{rfc3339, SharedClock};
use crate::crypto::{PublicKey, SigningKey};
use crate::policy::{DenialSampler, Sampled, Suppressed};
use crate::store::{ReadTx, Store, StoreError, WriteTx};

use super::context::AuditContext;
use super::event::AuditEvent;
use super::head::SignedHead;
use super::record::{decode32, Record, GENESIS_HASH, RECORD_DOMAIN};

/// An audit operation failed; the surrounding transaction must not commit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("audit record {seq} in the store is unreadable: {detail}")]
    Corrupt { seq: u64, detail: String },
    #[error("archive refused, nothing was removed: {0}")]
    ArchiveMismatch(String),
}

/// Told about every record inside the transaction that appends it, so what it writes (a
/// webhook outbox entry) lands — or is dropped — together with the record.
pub trait AppendHook: Send + Sync {
    /// `record` was just appended in `tx`. An error aborts the whole transaction.
    fn appended(&self, tx: &mut WriteTx, record: &Record) -> Result<(), AuditError>;
}

/// The appliance's audit log: appends signed records and signs heads.
pub struct AuditLog {
    key: SigningKey,
    public: PublicKey,
    clock: SharedClock,
    hook: OnceLock<Arc<dyn AppendHook>>,
    denials: Mutex<DenialSampler>,
    pub(super) status: super::status::ChainStatusCache,
}

/// Denials of one kind from one source recorded one by one per window; more are counted.
pub const DENIALS_PER_WINDOW: u32 = 20;
/// The sampling window in seconds.
pub const DENIAL_WINDOW_SECS: i64 = 60;
/// Sources the sampler tracks at most.
const DENIAL_KEYS: usize = 10_000;

impl AuditLog {
    /// An audit log signing with `key` and stamping times from `clock`.
    pub fn new(key: SigningKey, clock: SharedClock) -> Self {
        let public = key.public();
        Self {
            key,
            public,
            clock,
            hook: OnceLock::new(),
            status: super::status::ChainStatusCache::new(),
            denials: Mutex::new(DenialSampler::new(
                DENIALS_PER_WINDOW,
                DENIAL_WINDOW_SECS,
                DENIAL_KEYS,
            )),
        }
    }

    /// Appends a denied attempt in a transaction of its own, sampled: a flood from one
    /// source is recorded [`DENIALS_PER_WINDOW`] times per window and counted beyond (the
    /// count is recorded later as `audit.denials_suppressed`). `Ok(None)` when only counted.
    pub fn append_denial(
        &self,
        store: &Store,
        ctx: &AuditContext,
        event: &AuditEvent,
    ) -> Result<Option<Record>, AuditError> {
        match self.sample_denial(ctx, event) {
            Sampled::Suppress => Ok(None),
            Sampled::Record => self.append_alone(store, ctx, event).map(Some),
            Sampled::RecordAfter(summary) => store.write(|tx| {
                self.append_suppressed(tx, &summary)?;
                self.append(tx, ctx, event).map(Some)
            }),
        }
    }

    /// The sampler's verdict on one denial, for callers that write it in a transaction of
    /// their own (and then owe [`AuditLog::append_suppressed`] for a `RecordAfter`).
    pub fn sample_denial(&self, ctx: &AuditContext, event: &AuditEvent) -> Sampled {
        let (action, _) = event.action_and_detail();
        let source = ctx
            .source_ip
            .map_or_else(|| ctx.actor.to_string(), |ip| ip.to_string());
        let team = ctx.team.as_ref().map(|t| t.0.as_str());
        let now = self.clock.now().unix_timestamp();
        lock(&self.denials).sample(&action, &source, team, now)
    }

    /// Records the count of denials a window suppressed.
    pub fn append_suppressed(
        &self,
        tx: &mut WriteTx,
        s: &Suppressed,
    ) -> Result<Record, AuditError> {
        let at = |unix: i64| {
            rfc3339(
                time::OffsetDateTime::from_unix_timestamp(unix)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            )
        };
        let ctx = AuditContext {
            team: s.team.clone().map(crate::model::TeamId),
            ..AuditContext::actor(crate::model::Actor::System)
        };
        let event = AuditEvent::DenialsSuppressed {
            denied_action: s.action.clone(),
            source: s.source.clone(),
            count: s.count,
            from: at(s.from),
            to: at(s.to),
        };
        self.append(tx, &ctx, &event)
    }

    /// Records the counts of every sampling window that has ended (run on a schedule, so a
    /// flood that stops is still reported). Returns how many summaries were written.
    pub fn flush_denials(&self, store: &Store) -> Result<usize, AuditError> {
        let due = lock(&self.denials).due(self.clock.now().unix_timestamp());
        if due.is_empty() {
            return Ok(0);
        }
        store.write(|tx| {
            for s in &due {
                self.append_suppressed(tx, s)?;
            }
            Ok(due.len())
        })
    }

    /// Names the hook told about every appended record (once; later calls are ignored).
    pub fn set_hook(&self, hook: Arc<dyn AppendHook>) {
        let _ = self.hook.set(hook);
    }

    /// The key that verifies this log's records and heads.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub(super) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub(super) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Appends one record for `event` inside `tx`. If this fails, the caller's closure must
    /// return the error so the whole transaction — the change and its record — is dropped.
    pub fn append(
        &self,
        tx: &mut WriteTx,
        ctx: &AuditContext,
        event: &AuditEvent,
    ) -> Result<Record, AuditError> {
        let (prev_seq, prev_hash) = match tx.audit_last()? {
            None => (0, GENESIS_HASH),
            Some((seq, bytes)) => (seq, stored_hash(seq, &bytes)?),
        };
        let (action, detail) = event.action_and_detail();
        let team_link = match &ctx.team {
            Some(team) => Some(match tx.audit_team_head(&team.0)? {
                Some((seq, hash)) => (seq + 1, hash),
                None => (1, GENESIS_HASH),
            }),
            None => None,
        };
        let mut record = Record {
            seq: prev_seq + 1,
            ts: rfc3339(self.clock.now()),
            actor: ctx.actor.clone(),
            team: ctx.team.clone(),
            action,
            target: event.target(),
            request_id: ctx.request_id.clone(),
            policy_result: ctx.policy_result.clone(),
            command: ctx.command.clone(),
            source_ip: ctx.source_ip.map(|ip| ip.to_string()),
            detail,
            team_seq: team_link.map(|(seq, _)| seq),
            team_prev_hash: team_link.map(|(_, hash)| hex::encode(hash)),
            prev_hash: hex::encode(prev_hash),
            hash: String::new(),
            signature: String::new(),
        };
        let hash = crate::crypto::digest::sha3_256(&[&prev_hash, &record.canonical()]);
        record.hash = hex::encode(hash);
        record.signature = hex::encode(self.key.sign(RECORD_DOMAIN, &hash));
        let bytes = serde_json::to_vec(&record).map_err(|e| AuditError::Corrupt {
            seq: record.seq,
            detail: e.to_string(),
        })?;
        tx.audit_insert(record.seq, &bytes)?;
        if let (Some(team), Some((team_seq, _))) = (&ctx.team, team_link) {
            tx.set_audit_team_head(&team.0, team_seq, &hash)?;
            tx.audit_index_team(&team.0, team_seq, record.seq)?;
        }
        if let Some(hook) = self.hook.get() {
            hook.appended(tx, &record)?;
        }
        Ok(record)
    }

    /// Appends one record in a transaction of its own (events with no other change).
    pub fn append_alone(
        &self,
        store: &Store,
        ctx: &AuditContext,
        event: &AuditEvent,
    ) -> Result<Record, AuditError> {
        store.write(|tx| self.append(tx, ctx, event))
    }

    /// The signed head: the newest sequence number and hash, signed with the time now.
    pub fn head(&self, store: &Store) -> Result<SignedHead, AuditError> {
        let last = store.read(|tx| tx.audit_last())?;
        let (seq, hash) = match last {
            None => (0, GENESIS_HASH),
            Some((seq, bytes)) => (seq, stored_hash(seq, &bytes)?),
        };
        Ok(SignedHead::sign(
            seq,
            hex::encode(hash),
            rfc3339(self.clock.now()),
            &self.key,
        ))
    }
}

/// Up to `limit` of `team`'s stored records after position `after` of its chain, as
/// `(position, JSON line)`: what a team's export holds (nothing of any other team).
pub fn team_export_page(
    tx: &ReadTx,
    team: &crate::model::TeamId,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>, AuditError> {
    tx.audit_team_after(&team.0, after, limit)?
        .into_iter()
        .map(|(position, seq, bytes)| {
            String::from_utf8(bytes)
                .map(|line| (position, line))
                .map_err(|e| AuditError::Corrupt {
                    seq,
                    detail: e.to_string(),
                })
        })
        .collect()
}

/// Up to `limit` stored records after `after`, as JSON lines (without newlines).
pub fn export_page(tx: &ReadTx, after: u64, limit: usize) -> Result<Vec<String>, AuditError> {
    tx.audit_after(after, limit)?
        .into_iter()
        .map(|(seq, bytes)| {
            String::from_utf8(bytes).map_err(|e| AuditError::Corrupt {
                seq,
                detail: e.to_string(),
            })
        })
        .collect()
}

/// The newest (at most `want`) records of `team` among the last `scan` records, newest first:
/// a bounded look for dashboards, not an export.
pub fn recent_for_team(
    tx: &ReadTx,
    team: &crate::model::TeamId,
    scan: usize,
    want: usize,
) -> Result<Vec<Record>, AuditError> {
    let Some((last, _)) = tx.audit_last()? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (seq, bytes) in tx
        .audit_after(last.saturating_sub(scan as u64), scan)?
        .into_iter()
        .rev()
    {
        let record: Record = serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
            seq,
            detail: e.to_string(),
        })?;
        if record.team.as_ref() == Some(team) {
            out.push(record);
            if out.len() == want {
                break;
            }
        }
    }
    Ok(out)
}

fn stored_hash(seq: u64, bytes: &[u8]) -> Result<[u8; 32], AuditError> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| AuditError::Corrupt {
        seq,
        detail: e.to_string(),
    })?;
    decode32(&record.hash).ok_or_else(|| AuditError::Corrupt {
        seq,
        detail: "hash is not 64 hex characters".into(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
