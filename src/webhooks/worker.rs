//! Delivering: the worker takes what the outbox holds that is due, signs and sends each
//! delivery, and records the attempt. A 2xx delivers; anything else (a refused target, no
//! connection, a timeout, a non-2xx answer, a redirect) is retried after
//! 10 s · 2^(n-1), capped at an hour, until the round's attempts are spent — then the
//! delivery is dead-lettered until someone retries it. Due times come from the appliance
//! clock, so tests move the clock instead of waiting; deliveries are rows, so they survive
//! a restart (a delivery sent but not yet recorded when the process died is sent again:
//! receivers dedupe on `X-Tundra-Delivery`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::deliver::{self, Request};
use super::outbox::enqueue;
use super::rows::{
    delivery_key, is_delivery_id, new_delivery_id, outbox_key, parse_outbox_key, webhook_key,
    Attempt, DeliveryRow, DeliveryState, WebhookRow,
};
use super::{signature, target, WebhookError, Webhooks};
use crate::audit::{AuditContext, AuditEvent};
use crate::identity::Principal;
use crate::store::Table;

/// How often the worker looks without being woken.
const EVERY: Duration = Duration::from_secs(5);
/// Deliveries one look takes at most (the next look continues).
const BATCH: usize = 64;
/// Attempts one pass makes at the same time.
const PARALLEL: usize = 8;
/// Attempts kept in a delivery's log (older ones are dropped; numbering continues).
const KEEP_ATTEMPTS: usize = 100;
/// The event name of a test delivery.
pub const TEST_EVENT: &str = "webhook.test";

/// Seconds to wait after the `n`-th failed attempt of a round: 10 s · 2^(n-1), at most 1 h.
pub fn backoff_secs(n: u32) -> i64 {
    let doubling = n.saturating_sub(1).min(20);
    (10i64 << doubling).min(3600)
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Attempts made.
    pub attempted: usize,
    /// Of those, answered 2xx.
    pub delivered: usize,
    /// Of those, dead-lettered after the last attempt of their round.
    pub dead: usize,
}

/// The body a receiver gets: `{"event", "delivery", "record"}` with the record exactly as
/// exported.
pub fn body(d: &DeliveryRow) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_default();
    format!(
        "{{\"event\":{},\"delivery\":{},\"record\":{}}}",
        s(&d.event),
        s(&d.id),
        d.record
    )
}

impl Webhooks {
    /// Attempts every delivery that is due now, one pass at a time.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<DeliveryReport, WebhookError> {
        let _pass = self.pass.lock().await;
        let mut report = DeliveryReport::default();
        loop {
            let now = self.now_ms();
            let me = Arc::clone(self);
            let due = blocking(move || me.due(now)).await?;
            let full = due.len() == BATCH;
            // A few at a time, so one slow receiver does not hold up every other team's.
            let mut running = tokio::task::JoinSet::new();
            for (d, w) in due {
                while running.len() >= PARALLEL {
                    count(&mut report, running.join_next().await)?;
                }
                let me = Arc::clone(self);
                running.spawn(async move { me.attempt(d, w).await });
            }
            while !running.is_empty() {
                count(&mut report, running.join_next().await)?;
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// The pending deliveries due at `now` with their webhooks; drops outbox entries that
    /// point at nothing. A write transaction, so it runs after the one that queued them.
    fn due(&self, now: i64) -> Result<Vec<(DeliveryRow, WebhookRow)>, WebhookError> {
        self.store.write(|tx| {
            let mut out = Vec::new();
            for (k, ()) in tx.rows_page::<()>(Table::WebhookOutbox, "", None, BATCH)? {
                let Some((due_ms, dkey)) = parse_outbox_key(&k) else {
                    tx.delete_row(Table::WebhookOutbox, &k)?;
                    continue;
                };
                if due_ms > now {
                    break;
                }
                let d = tx.row::<DeliveryRow>(Table::WebhookDeliveries, &dkey)?;
                let Some(d) = d.filter(|d| outbox_key(d).as_deref() == Some(k.as_str())) else {
                    tx.delete_row(Table::WebhookOutbox, &k)?;
                    continue;
                };
                match tx.row::<WebhookRow>(Table::Webhooks, &webhook_key(&d.team, &d.webhook))? {
                    Some(w) => out.push((d, w)),
                    None => {
                        tx.delete_row(Table::WebhookOutbox, &k)?;
                        tx.delete_row(Table::WebhookDeliveries, &dkey)?;
                    }
                }
            }
            Ok(out)
        })
    }

    async fn attempt(
        self: &Arc<Self>,
        d: DeliveryRow,
        w: WebhookRow,
    ) -> Result<Option<DeliveryState>, WebhookError> {
        let at_ms = self.now_ms();
        let started = Instant::now();
        let result = match self.prepare(&d, &w) {
            Ok((target, headers, body)) => {
                let req = Request {
                    target: &target,
                    headers,
                    body,
                };
                deliver::send(&self.tls, self.settings.rules, req, self.settings.timeout).await
            }
            Err(m) => Err(m),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = &result {
            tracing::info!(webhook = %w.id, delivery = %d.id, error = %e, "webhook attempt failed");
        }
        let me = Arc::clone(self);
        blocking(move || me.record(&d, result, at_ms, duration_ms)).await
    }

    #[allow(clippy::type_complexity)] // the three parts of one request
    fn prepare(
        &self,
        d: &DeliveryRow,
        w: &WebhookRow,
    ) -> Result<(target::Target, Vec<(&'static str, String)>, Vec<u8>), String> {
        let target = target::parse(&w.url).map_err(|m| format!("stored URL: {m}"))?;
        let sealed = hex::decode(&w.secret_sealed).map_err(|_| "secret unreadable".to_string())?;
        let secret = self
            .sealer
            .open(w.id.as_bytes(), &sealed)
            .map_err(|e| format!("secret unreadable: {e}"))?;
        let key: [u8; 32] = secret
            .expose()
            .as_slice()
            .try_into()
            .map_err(|_| "secret unreadable: not 32 bytes".to_string())?;
        let body = body(d).into_bytes();
        let t = self.clock.now().unix_timestamp();
        let headers = vec![
            (signature::HEADER, signature::header_value(&key, t, &body)),
            ("x-tundra-event", d.event.clone()),
            ("x-tundra-delivery", d.id.clone()),
        ];
        Ok((target, headers, body))
    }

    /// Records one attempt of `d` (unless it was retried, delivered or deleted meanwhile)
    /// and schedules the next one or ends the delivery.
    fn record(
        &self,
        d: &DeliveryRow,
        result: Result<u16, String>,
        at_ms: i64,
        duration_ms: u64,
    ) -> Result<Option<DeliveryState>, WebhookError> {
        let now = self.now_ms();
        self.store.write(|tx| {
            let key = delivery_key(d);
            let Some(mut cur) = tx.row::<DeliveryRow>(Table::WebhookDeliveries, &key)? else {
                return Ok(None);
            };
            if cur.state != DeliveryState::Pending || cur.next_ms != d.next_ms {
                return Ok(None);
            }
            if let Some(k) = outbox_key(&cur) {
                tx.delete_row(Table::WebhookOutbox, &k)?;
            }
            let (status, error) = match result {
                Ok(s) if (200..300).contains(&s) => (Some(s), None),
                Ok(s) if (300..400).contains(&s) => (
                    Some(s),
                    Some(format!("HTTP {s}: redirects are not followed")),
                ),
                Ok(s) => (Some(s), Some(format!("HTTP {s}"))),
                Err(m) => (None, Some(m)),
            };
            let n = cur.attempts_made() + 1;
            let delivered = error.is_none();
            cur.attempts.push(Attempt {
                n,
                at_ms,
                status,
                error,
                duration_ms,
            });
            if cur.attempts.len() > KEEP_ATTEMPTS {
                let extra = cur.attempts.len() - KEEP_ATTEMPTS;
                cur.attempts.drain(..extra);
            }
            let in_round = n.saturating_sub(cur.round_start);
            if delivered {
                cur.state = DeliveryState::Delivered;
                cur.next_ms = None;
            } else if in_round >= self.settings.max_attempts {
                cur.state = DeliveryState::Dead;
                cur.next_ms = None;
            } else {
                cur.next_ms = Some(now + backoff_secs(in_round) * 1000);
            }
            tx.put_row(Table::WebhookDeliveries, &key, &cur)?;
            if let Some(k) = outbox_key(&cur) {
                tx.put_row(Table::WebhookOutbox, &k, &())?;
            }
            Ok(Some(cur.state))
        })
    }

    /// Queues a `webhook.test` delivery to webhook `id` only (whatever its filter); the
    /// record it carries is the `webhook.test_sent` record of this request.
    pub fn send_test(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<DeliveryRow, WebhookError> {
        self.check(p)?;
        self.webhook_in(p, ctx, id)?;
        let now = self.now_ms();
        let d = self.store.write(|tx| {
            let Some(w) = Self::find(tx, p, id)? else {
                return Err(WebhookError::NotFound);
            };
            let delivery = new_delivery_id(now);
            let event = AuditEvent::WebhookTestSent {
                webhook: w.id.clone(),
                delivery: delivery.clone(),
            };
            let record = self.audit.append(tx, ctx, &event)?;
            let json = serde_json::to_string(&record)
                .map_err(|e| WebhookError::Task(format!("record {} as JSON: {e}", record.seq)))?;
            Ok(enqueue(
                tx, &w, delivery, TEST_EVENT, record.seq, &json, now,
            )?)
        })?;
        self.wake();
        Ok(d)
    }

    /// Queues a dead-lettered delivery again, with a fresh round of attempts.
    pub fn retry(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
        delivery: &str,
    ) -> Result<DeliveryRow, WebhookError> {
        self.check(p)?;
        let w = self.webhook_in(p, ctx, id)?;
        if !is_delivery_id(delivery) {
            return Err(WebhookError::NotFound);
        }
        let now = self.now_ms();
        let key = format!("{}/{}/{delivery}", w.team, w.id);
        let d = self.store.write(|tx| {
            if Self::find(tx, p, id)?.is_none() {
                return Err(WebhookError::NotFound);
            }
            let Some(mut d) = tx.row::<DeliveryRow>(Table::WebhookDeliveries, &key)? else {
                return Err(WebhookError::NotFound);
            };
            if d.state != DeliveryState::Dead {
                return Err(WebhookError::Conflict(format!(
                    "only dead-lettered deliveries can be retried; this one is {}",
                    d.state.as_str()
                )));
            }
            d.state = DeliveryState::Pending;
            d.round_start = d.attempts_made();
            d.next_ms = Some(now);
            tx.put_row(Table::WebhookDeliveries, &key, &d)?;
            if let Some(k) = outbox_key(&d) {
                tx.put_row(Table::WebhookOutbox, &k, &())?;
            }
            let event = AuditEvent::WebhookDeliveryRetried {
                webhook: w.id.clone(),
                delivery: d.id.clone(),
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(d)
        })?;
        self.wake();
        Ok(d)
    }
}

type Joined = Option<Result<Result<Option<DeliveryState>, WebhookError>, tokio::task::JoinError>>;

/// Adds one finished attempt to `report`.
fn count(report: &mut DeliveryReport, joined: Joined) -> Result<(), WebhookError> {
    let Some(joined) = joined else {
        return Ok(());
    };
    report.attempted += 1;
    match joined.map_err(|e| WebhookError::Task(e.to_string()))?? {
        Some(DeliveryState::Delivered) => report.delivered += 1,
        Some(DeliveryState::Dead) => report.dead += 1,
        _ => {}
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebhookError> + Send + 'static,
) -> Result<T, WebhookError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebhookError::Task(e.to_string()))?
}

/// Delivers what is due every few seconds and whenever woken, until `stop` turns true (a
/// pass in progress is abandoned; what it had not recorded is attempted again later).
pub async fn schedule(webhooks: Arc<Webhooks>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(EVERY) => {}
            _ = webhooks.wake.notified() => {}
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = webhooks.deliver_due() => match r {
                Ok(r) if r != DeliveryReport::default() => tracing::debug!(?r, "webhook deliveries"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook delivery pass failed"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_to_an_hour() {
        let s: Vec<i64> = (1..=11).map(backoff_secs).collect();
        assert_eq!(s, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(backoff_secs(u32::MAX), 3600);
    }
}
