//! Per-team signed webhooks (SPEC §4 "Webhooks"): a team's owners and admins name a
//! receiver URL and the audit actions it wants; every matching record of the team is
//! delivered to it as JSON, signed with HMAC-SHA256 under the webhook's secret.
//!
//! Owns the webhooks (secrets sealed at rest, shown once), their outbox and delivery log.
//! Deliveries are queued by the audit log's append hook inside the record's own
//! transaction, so a record and its deliveries commit together; records without a team are
//! never delivered. It never reaches an address the target rules refuse: every address a
//! receiver resolves to is checked at creation and again before each delivery, and the
//! delivery connects to the address that was checked, following no redirects.

mod deliver;
mod error;
mod filter;
mod ip;
mod outbox;
mod rows;
mod service;
mod signature;
mod target;
mod worker;

pub use error::WebhookError;
pub use filter::{matches, parse as parse_filter, MAX_PATTERNS};
pub use ip::{classify, Reach};
pub use outbox::{Outbox, KEEP_DELIVERIES};
pub use rows::{is_delivery_id, is_webhook_id, Attempt, DeliveryRow, DeliveryState, WebhookRow};
pub use service::{CreatedWebhook, WebhookSettings, WebhookSummary, Webhooks, MAX_WEBHOOKS};
pub use signature::{header_value as signature_header, HEADER as SIGNATURE_HEADER};
pub use target::{check_addr, parse as parse_url, Scheme, Target, TargetRules};
pub use worker::{backoff_secs, body, schedule, DeliveryReport, TEST_EVENT};

#[cfg(test)]
mod tests;
