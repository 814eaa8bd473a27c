//! What the fleet pages share: an agent as the templates see it, the search filter, the
//! words for fleet refusals, and running fleet work off the async threads.

use std::sync::Arc;

use axum::http::StatusCode;
use time::OffsetDateTime;

use super::chart::human_bytes;
use super::Panel;
use crate::fleet::needs_update;
use crate::fleet::{AgentRow, AgentStatus, Fleet, FleetError, Sample};
use crate::identity::IdentityError;
use crate::rendezvous::LiveStatus;
use crate::web::HttpError;

/// Runs fleet work off the async threads; the fleet's own error is left to the caller
/// (a page shows most of them as a message).
pub async fn blocking<T: Send + 'static>(
    panel: &Panel,
    f: impl FnOnce(&Fleet) -> Result<T, FleetError> + Send + 'static,
) -> Result<Result<T, FleetError>, HttpError> {
    let fleet = Arc::clone(&panel.fleet);
    tokio::task::spawn_blocking(move || f(&fleet))
        .await
        .map_err(HttpError::internal)
}

/// RFC 3339 of unix seconds.
pub fn when(unix: i64) -> String {
    crate::clock::rfc3339(
        OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// `online`, `offline` or `deactivated`.
pub fn state(a: &AgentRow, live: &LiveStatus) -> &'static str {
    match (a.status, live.online) {
        (AgentStatus::Deactivated, _) => "deactivated",
        (AgentStatus::Active, true) => "online",
        (AgentStatus::Active, false) => "offline",
    }
}

/// `used` as a percentage of `total` (0 when the total is unknown).
pub fn percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 * 100.0 / total as f64
    }
}

/// The latest health as short texts.
pub fn health(s: &Sample) -> minijinja::Value {
    minijinja::context! {
        cpu => format!("{:.0}%", s.cpu_percent),
        memory => format!("{:.0}% ({} of {})", percent(s.memory_used_bytes, s.memory_total_bytes),
            human_bytes(s.memory_used_bytes as f64), human_bytes(s.memory_total_bytes as f64)),
        memory_short => format!("{:.0}%", percent(s.memory_used_bytes, s.memory_total_bytes)),
        disk => format!("{:.0}% ({} of {})", percent(s.disk_used_bytes, s.disk_total_bytes),
            human_bytes(s.disk_used_bytes as f64), human_bytes(s.disk_total_bytes as f64)),
        network => format!("{}/s in, {}/s out", human_bytes(s.net_rx_bytes_per_s as f64),
            human_bytes(s.net_tx_bytes_per_s as f64)),
        load => format!("{:.2} {:.2} {:.2}", s.load[0], s.load[1], s.load[2]),
        uptime => uptime(s.uptime_s),
    }
}

fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

/// An agent as the templates see it.
pub fn agent_context(a: &AgentRow, live: &LiveStatus, min: (u64, u64, u64)) -> minijinja::Value {
    let last_seen = live
        .last_heartbeat
        .or(live.connected_since)
        .or(a.last_seen)
        .map(when)
        .unwrap_or_default();
    minijinja::context! {
        id => &a.id.0, name => &a.name, hostname => &a.hostname, os => &a.os,
        version => &a.version, tags => &a.tags, state => state(a, live),
        needs_update => needs_update(&a.version, min),
        enrolled => when(a.enrolled),
        connected_since => live.connected_since.map(when).unwrap_or_default(),
        deactivated => a.deactivated.map(when).unwrap_or_default(),
        last_seen,
        health => live.latest.as_ref().map(health),
    }
}

/// Whether `a` matches the search `q` (lowercased): part of its name, host name or id, or
/// part of one of its tags.
pub fn matches(a: &AgentRow, q: &str) -> bool {
    q.is_empty()
        || a.name.to_lowercase().contains(q)
        || a.hostname.to_lowercase().contains(q)
        || a.id.0.contains(q)
        || a.tags.iter().any(|t| t.contains(q))
}

/// What the user is told about a refused fleet operation; `Err` for what is no user mistake
/// (a missing agent is the 404 page; failures the log must see).
pub fn message(e: FleetError) -> Result<(StatusCode, String), HttpError> {
    Ok(match e {
        FleetError::Invalid { field, message } => {
            let label = match field {
                "tags" => "Tags",
                "ttl_secs" => "Valid for",
                "uses" => "Uses",
                other => other,
            };
            (StatusCode::BAD_REQUEST, format!("{label}: {message}."))
        }
        FleetError::Forbidden | FleetError::Identity(IdentityError::Forbidden) => (
            StatusCode::FORBIDDEN,
            "Your role does not allow that; owners and admins manage the fleet.".into(),
        ),
        FleetError::ReauthRequired => (
            StatusCode::FORBIDDEN,
            "Deleting an agent needs your password confirmed within the last 5 minutes. \
             Confirm it below, then delete again."
                .into(),
        ),
        FleetError::TooMany(m) => (StatusCode::CONFLICT, m),
        FleetError::Identity(IdentityError::TwoFactorRequired) => (
            StatusCode::FORBIDDEN,
            "Set up two-factor authentication on the Account page first: owners and admins \
             need it before they can see or manage the fleet."
                .into(),
        ),
        FleetError::NotFound => return Err(HttpError::not_found()),
        e => return Err(HttpError::internal(e)),
    })
}

/// A comma-separated list: items trimmed, empty ones dropped.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(String::from)
        .collect()
}
