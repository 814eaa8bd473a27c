//! What the webhook service stores: the webhook (its secret sealed), one row per delivery
//! with its attempt log, and the outbox index of deliveries still due.

use serde::{Deserialize, Serialize};

use crate::crypto::random;
use crate::model::TeamId;

/// A team's webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRow {
    /// `whk_` and 26 hex characters.
    pub id: String,
    /// The team whose records it delivers.
    pub team: TeamId,
    /// The receiver.
    pub url: String,
    /// The action patterns it delivers.
    pub events: Vec<String>,
    /// Email of the owner or admin who added it.
    pub created_by: String,
    /// Unix milliseconds of its creation.
    pub created_ms: i64,
    /// Hex of the secret sealed under the `webhooks/secret` column key, bound to `id`.
    pub secret_sealed: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt of its round failed; waits for a manual retry.
    Dead,
}

impl DeliveryState {
    /// The name the API and panel show.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt of the delivery, counting across manual retries.
    pub n: u32,
    /// Unix milliseconds when it started.
    pub at_ms: i64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong, when it did (refused target, connect error, timeout, non-2xx).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// One record (or test) to deliver to one webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// `dlv_` and 26 hex characters (the first 12 are the creation time, so ids sort by it).
    pub id: String,
    /// The webhook's team.
    pub team: TeamId,
    /// The webhook.
    pub webhook: String,
    /// The event name sent (`X-Tundra-Event`): the record's action, or `webhook.test`.
    pub event: String,
    /// Sequence number of the audit record delivered.
    pub seq: u64,
    /// The record's JSON exactly as exported.
    pub record: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Unix milliseconds of its creation.
    pub created_ms: i64,
    /// Unix milliseconds of its next attempt (pending only).
    pub next_ms: Option<i64>,
    /// Attempts of the current round start after this many (a manual retry opens a round).
    pub round_start: u32,
    /// The newest attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

impl DeliveryRow {
    /// Attempts made so far, across rounds.
    pub fn attempts_made(&self) -> u32 {
        self.attempts.last().map_or(0, |a| a.n)
    }
}

/// A fresh webhook id.
pub fn new_webhook_id() -> String {
    format!("whk_{}", hex::encode(random::bytes::<13>()))
}

/// A fresh delivery id that sorts after those made earlier.
pub fn new_delivery_id(now_ms: i64) -> String {
    let ms = u64::try_from(now_ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("dlv_{ms:012x}{}", hex::encode(random::bytes::<7>()))
}

fn well_formed(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|h| {
        h.len() == 26
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `s` has the shape of a webhook id (checked before any lookup).
pub fn is_webhook_id(s: &str) -> bool {
    well_formed(s, "whk_")
}

/// Whether `s` has the shape of a delivery id.
pub fn is_delivery_id(s: &str) -> bool {
    well_formed(s, "dlv_")
}

/// The webhook's key: `team/webhook`.
pub fn webhook_key(team: &TeamId, id: &str) -> String {
    format!("{team}/{id}")
}

/// The prefix of a webhook's deliveries.
pub fn deliveries_prefix(team: &TeamId, webhook: &str) -> String {
    format!("{team}/{webhook}/")
}

/// A delivery's key.
pub fn delivery_key(d: &DeliveryRow) -> String {
    format!("{}/{}/{}", d.team, d.webhook, d.id)
}

/// A pending delivery's outbox key (soonest first), if it is pending.
pub fn outbox_key(d: &DeliveryRow) -> Option<String> {
    let due = d.next_ms?;
    Some(format!(
        "{:016}/{}/{}/{}",
        due.max(0),
        d.team,
        d.webhook,
        d.id
    ))
}

/// The delivery key an outbox key points at, and its due time.
pub fn parse_outbox_key(key: &str) -> Option<(i64, String)> {
    let (due, rest) = key.split_once('/')?;
    Some((due.parse().ok()?, rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shape_and_sort_by_time() {
        let w = new_webhook_id();
        assert!(is_webhook_id(&w), "{w}");
        assert!(!is_delivery_id(&w));
        let a = new_delivery_id(1_000);
        let b = new_delivery_id(2_000);
        assert!(is_delivery_id(&a) && a < b, "{a} {b}");
        assert!(!is_webhook_id("whk_../../x"));
    }

    #[test]
    fn outbox_keys_sort_by_due_time() {
        let d = |due| DeliveryRow {
            id: "dlv_x".into(),
            team: TeamId("t".into()),
            webhook: "w".into(),
            event: "e".into(),
            seq: 1,
            record: "{}".into(),
            state: DeliveryState::Pending,
            created_ms: 0,
            next_ms: Some(due),
            round_start: 0,
            attempts: Vec::new(),
        };
        let (a, b) = (
            outbox_key(&d(9_000)).unwrap(),
            outbox_key(&d(10_000)).unwrap(),
        );
        assert!(a < b);
        assert_eq!(parse_outbox_key(&b), Some((10_000, "t/w/dlv_x".into())));
    }
}
