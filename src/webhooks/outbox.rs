//! The outbox: the audit log's append hook writes one delivery per matching webhook inside
//! the transaction that appends the record, so a record and its deliveries commit — or are
//! dropped — together. Records without a team (appliance-level) are never delivered.

use std::sync::Arc;

use tokio::sync::Notify;

use super::filter;
use super::rows::{
    deliveries_prefix, delivery_key, new_delivery_id, outbox_key, DeliveryRow, DeliveryState,
    WebhookRow,
};
use crate::audit::{AppendHook, AuditError, Record};
use crate::clock::SharedClock;
use crate::store::{StoreError, Table, WriteTx};

/// Deliveries kept per webhook: beyond this, the oldest finished ones are dropped.
pub const KEEP_DELIVERIES: usize = 100;

/// The append hook; registered with the audit log by the composition root.
pub struct Outbox {
    pub(super) clock: SharedClock,
    pub(super) wake: Arc<Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

pub(super) fn now_ms(clock: &SharedClock) -> i64 {
    i64::try_from(clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl AppendHook for Outbox {
    fn appended(&self, tx: &mut WriteTx, record: &Record) -> Result<(), AuditError> {
        let Some(team) = &record.team else {
            return Ok(());
        };
        let hooks = tx.rows::<WebhookRow>(Table::Webhooks, &format!("{team}/"))?;
        let matching: Vec<WebhookRow> = hooks
            .into_iter()
            .map(|(_, w)| w)
            .filter(|w| filter::matches(&w.events, &record.action))
            .collect();
        if matching.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(record).map_err(|e| AuditError::Corrupt {
            seq: record.seq,
            detail: e.to_string(),
        })?;
        let now = now_ms(&self.clock);
        for w in &matching {
            let id = new_delivery_id(now);
            enqueue(tx, w, id, &record.action, record.seq, &json, now)?;
        }
        // The worker's first look is a write transaction, so it runs after this one ends.
        self.wake.notify_one();
        Ok(())
    }
}

/// Queues `record_json` (record `seq`) for `webhook` as delivery `id` of event `event`, due
/// now.
pub(super) fn enqueue(
    tx: &mut WriteTx,
    webhook: &WebhookRow,
    id: String,
    event: &str,
    seq: u64,
    record_json: &str,
    now: i64,
) -> Result<DeliveryRow, StoreError> {
    let d = DeliveryRow {
        id,
        team: webhook.team.clone(),
        webhook: webhook.id.clone(),
        event: event.to_string(),
        seq,
        record: record_json.to_string(),
        state: DeliveryState::Pending,
        created_ms: now,
        next_ms: Some(now),
        round_start: 0,
        attempts: Vec::new(),
    };
    tx.put_row(Table::WebhookDeliveries, &delivery_key(&d), &d)?;
    if let Some(k) = outbox_key(&d) {
        tx.put_row(Table::WebhookOutbox, &k, &())?;
    }
    prune(tx, webhook)?;
    Ok(d)
}

/// Drops the oldest finished deliveries beyond [`KEEP_DELIVERIES`] (pending ones stay: they
/// end within their attempt budget and are dropped later).
fn prune(tx: &mut WriteTx, webhook: &WebhookRow) -> Result<(), StoreError> {
    let prefix = deliveries_prefix(&webhook.team, &webhook.id);
    let count = tx
        .rows::<serde::de::IgnoredAny>(Table::WebhookDeliveries, &prefix)?
        .len();
    if count <= KEEP_DELIVERIES {
        return Ok(());
    }
    let mut excess = count - KEEP_DELIVERIES;
    for (key, d) in tx.rows::<DeliveryRow>(Table::WebhookDeliveries, &prefix)? {
        if excess == 0 {
            break;
        }
        if d.state != DeliveryState::Pending {
            tx.delete_row(Table::WebhookDeliveries, &key)?;
            excess -= 1;
        }
    }
    Ok(())
}
