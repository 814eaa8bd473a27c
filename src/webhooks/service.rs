//! The webhook service: its state and construction, and adding, listing and deleting a
//! team's webhooks (owners and admins only; another team's webhook is "not found").

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::outbox::{now_ms, Outbox};
use super::rows::{
    deliveries_prefix, is_webhook_id, new_webhook_id, outbox_key, webhook_key, DeliveryRow,
    DeliveryState, WebhookRow,
};
use super::target::{self, TargetRules};
use super::{filter, WebhookError};
use crate::audit::{AuditContext, AuditEvent, AuditLog};
use crate::clock::SharedClock;
use crate::crypto::{random, ColumnSealer, MasterKey};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::store::{RowRead, Store, Table};

/// Webhooks one team may have at most.
pub const MAX_WEBHOOKS: usize = 20;

/// What the service takes from the config.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which addresses receivers may have.
    pub rules: TargetRules,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts per round before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// Root certificates trusted besides the system's (`webhook_ca_file`).
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

/// A webhook as listed: never its secret.
#[derive(Debug, Clone)]
pub struct WebhookSummary {
    /// The webhook.
    pub webhook: WebhookRow,
    /// Its newest delivery, if any.
    pub last: Option<DeliveryRow>,
}

/// A webhook just created, with its secret — the only time it is shown.
#[derive(Debug)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: WebhookRow,
    /// 64 hex characters: the 32-byte HMAC key.
    pub secret: crate::crypto::Secret<String>,
}

/// Per-team signed webhooks: stores them, queues deliveries through the audit hook
/// ([`Webhooks::outbox`]) and delivers them ([`super::schedule`]).
pub struct Webhooks {
    pub(super) store: Arc<Store>,
    pub(super) audit: Arc<AuditLog>,
    pub(super) clock: SharedClock,
    pub(super) sealer: ColumnSealer,
    pub(super) settings: WebhookSettings,
    pub(super) tls: Arc<rustls::ClientConfig>,
    pub(super) wake: Arc<Notify>,
    /// One delivery pass at a time (the worker's, or a test's).
    pub(super) pass: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

impl Webhooks {
    /// The service; register [`Webhooks::outbox`] with the audit log so records queue
    /// their deliveries.
    pub fn new(
        store: Arc<Store>,
        audit: Arc<AuditLog>,
        clock: SharedClock,
        master: &MasterKey,
        key_version: u32,
        settings: WebhookSettings,
    ) -> Result<Arc<Self>, WebhookError> {
        let tls = super::deliver::client_config(&settings.extra_roots)?;
        Ok(Arc::new(Self {
            store,
            audit,
            clock,
            sealer: ColumnSealer::new(master, "webhooks", "secret", key_version),
            settings,
            tls,
            wake: Arc::new(Notify::new()),
            pass: tokio::sync::Mutex::new(()),
        }))
    }

    /// The audit append hook that writes this service's outbox.
    pub fn outbox(&self) -> Arc<Outbox> {
        Arc::new(Outbox {
            clock: self.clock.clone(),
            wake: Arc::clone(&self.wake),
        })
    }

    /// Wakes the delivery worker now (tests, after moving the clock).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) fn now_ms(&self) -> i64 {
        now_ms(&self.clock)
    }

    /// Refuses principals who may not manage webhooks (or must enroll 2FA first).
    pub(super) fn check(&self, p: &Principal) -> Result<(), WebhookError> {
        p.check_can_act()?;
        if !allows(p.role(), Action::ManageFleet) {
            return Err(WebhookError::Forbidden(format!(
                "Your role ({}) may not manage webhooks; owners and admins can.",
                p.role()
            )));
        }
        Ok(())
    }

    /// The webhook `id` of `p`'s team, if there is one (in a read or write transaction).
    pub(super) fn find(
        tx: &impl RowRead,
        p: &Principal,
        id: &str,
    ) -> Result<Option<WebhookRow>, WebhookError> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        Ok(tx.get_row::<WebhookRow>(Table::Webhooks, &webhook_key(p.team(), id))?)
    }

    /// Records that `id` was asked for but is not the caller's team's (`access.denied`, in
    /// a transaction of its own) and answers `NotFound`.
    pub(super) fn denied(&self, ctx: &AuditContext, id: &str) -> WebhookError {
        let event = AuditEvent::AccessDenied {
            target: format!("webhook:{}", id.chars().take(80).collect::<String>()),
            reason: "not_in_team".into(),
        };
        match self.audit.append_denial(&self.store, ctx, &event) {
            Ok(_) => WebhookError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// The webhook `id` of `p`'s team; anything else is `NotFound`, audited.
    pub(super) fn webhook_in(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<WebhookRow, WebhookError> {
        match self.store.read(|tx| Self::find(tx, p, id))? {
            Some(w) => Ok(w),
            None => Err(self.denied(ctx, id)),
        }
    }

    /// Adds a webhook for `p`'s team after checking its URL (scheme, and every address it
    /// resolves to) and its event patterns. The secret is returned here only.
    pub async fn create(
        self: &Arc<Self>,
        p: &Principal,
        ctx: &AuditContext,
        url: &str,
        events: &[String],
    ) -> Result<CreatedWebhook, WebhookError> {
        self.check(p)?;
        let url = url.trim().to_string();
        let parsed = target::parse(&url).map_err(|m| WebhookError::invalid("url", m))?;
        let events = filter::parse(events).map_err(|m| WebhookError::invalid("events", m))?;
        let timeout = self.settings.timeout;
        tokio::time::timeout(timeout, target::resolve(self.settings.rules, &parsed))
            .await
            .map_err(|_| {
                WebhookError::invalid("url", format!("{} did not resolve in time", parsed.host))
            })?
            .map_err(|m| WebhookError::invalid("url", m))?;
        let (me, p, ctx) = (Arc::clone(self), p.clone(), ctx.clone());
        tokio::task::spawn_blocking(move || me.insert(&p, &ctx, url, events))
            .await
            .map_err(|e| WebhookError::Task(e.to_string()))?
    }

    fn insert(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        url: String,
        events: Vec<String>,
    ) -> Result<CreatedWebhook, WebhookError> {
        let id = new_webhook_id();
        let secret = random::bytes::<32>();
        let row = WebhookRow {
            secret_sealed: hex::encode(self.sealer.seal(id.as_bytes(), &secret)),
            id,
            team: p.team().clone(),
            url,
            events,
            created_by: p.email().to_string(),
            created_ms: self.now_ms(),
        };
        self.store.write(|tx| {
            let prefix = format!("{}/", p.team());
            if tx
                .rows::<serde::de::IgnoredAny>(Table::Webhooks, &prefix)?
                .len()
                >= MAX_WEBHOOKS
            {
                return Err(WebhookError::Conflict(format!(
                    "a team may have at most {MAX_WEBHOOKS} webhooks"
                )));
            }
            let event = AuditEvent::WebhookCreated {
                webhook: row.id.clone(),
                url: row.url.clone(),
                events: row.events.clone(),
            };
            // Recorded before the row exists, so the new webhook is not sent its own
            // creation (its receiver has not been given the secret yet); others are.
            self.audit.append(tx, ctx, &event)?;
            tx.put_row(Table::Webhooks, &webhook_key(&row.team, &row.id), &row)?;
            Ok::<_, WebhookError>(())
        })?;
        Ok(CreatedWebhook {
            webhook: row,
            secret: crate::crypto::Secret::new(hex::encode(secret)),
        })
    }

    /// The team's webhooks with their newest delivery, oldest webhook first.
    pub fn list(&self, p: &Principal) -> Result<Vec<WebhookSummary>, WebhookError> {
        self.check(p)?;
        self.store.read(|tx| {
            let mut out: Vec<WebhookSummary> = Vec::new();
            for (_, w) in tx.rows::<WebhookRow>(Table::Webhooks, &format!("{}/", p.team()))? {
                let last = tx
                    .rows::<DeliveryRow>(
                        Table::WebhookDeliveries,
                        &deliveries_prefix(&w.team, &w.id),
                    )?
                    .pop()
                    .map(|(_, d)| d);
                out.push(WebhookSummary { webhook: w, last });
            }
            out.sort_by_key(|s| s.webhook.created_ms);
            Ok(out)
        })
    }

    /// One webhook of the team and its delivery log, newest delivery first.
    pub fn deliveries(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<(WebhookRow, Vec<DeliveryRow>), WebhookError> {
        self.check(p)?;
        let w = self.webhook_in(p, ctx, id)?;
        self.store.read(|tx| {
            let mut log: Vec<DeliveryRow> = tx
                .rows::<DeliveryRow>(Table::WebhookDeliveries, &deliveries_prefix(&w.team, &w.id))?
                .into_iter()
                .map(|(_, d)| d)
                .collect();
            log.reverse();
            Ok((w, log))
        })
    }

    /// Deletes a webhook of the team with its delivery log; pending deliveries are dropped.
    pub fn delete(&self, p: &Principal, ctx: &AuditContext, id: &str) -> Result<(), WebhookError> {
        self.check(p)?;
        self.webhook_in(p, ctx, id)?;
        self.store.write(|tx| {
            // Deleted meanwhile: someone else's delete already recorded it.
            let Some(w) = Self::find(tx, p, id)? else {
                return Err(WebhookError::NotFound);
            };
            let mut dropped = 0u64;
            for (key, d) in tx
                .rows::<DeliveryRow>(Table::WebhookDeliveries, &deliveries_prefix(&w.team, &w.id))?
            {
                if d.state == DeliveryState::Pending {
                    dropped += 1;
                }
                if let Some(k) = outbox_key(&d) {
                    tx.delete_row(Table::WebhookOutbox, &k)?;
                }
                tx.delete_row(Table::WebhookDeliveries, &key)?;
            }
            tx.delete_row(Table::Webhooks, &webhook_key(&w.team, &w.id))?;
            let event = AuditEvent::WebhookDeleted {
                webhook: w.id.clone(),
                url: w.url.clone(),
                dropped,
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(())
        })
    }
}
