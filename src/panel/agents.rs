//! The agents pages: the team's agents with their state and a server-side search, and one
//! agent with its health charts (inline SVG), its last commands and a run form for those who
//! may operate, and, for admins, tags, deactivate and delete.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::chart::{Chart, Scale, Series};
use super::command_view::{new_request_id, RunFields};
use super::fleet_view::{agent_context, blocking, matches, message, percent};
use super::{nav, page, Panel};
use crate::fleet::{AgentRow, MetricsRange, Point};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// The ranges the detail page offers.
const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

/// `?q=` (search) and `?done=` (fixed notices) of the list page.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    done: Option<String>,
}

/// `GET /agents`.
pub async fn list(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Query(query): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect();
    let needle = q.to_lowercase();
    let pp = p.clone();
    let (rows, error) = match blocking(&panel, move |f| f.agents(&pp)).await? {
        Ok(rows) => (rows, String::new()),
        Err(e) => (Vec::new(), message(e)?.1),
    };
    let total = rows.len();
    let min = panel.fleet.min_agent_version();
    let agents: Vec<_> = rows
        .iter()
        .filter(|a| matches(a, &needle))
        .map(|a| agent_context(a, &panel.hub.status(&a.id), min))
        .collect();
    let notice = match query.done.as_deref() {
        Some("deleted") => "The agent was deleted with its history.",
        _ => "",
    };
    Ok(page(
        &panel,
        "agents.html",
        minijinja::context! {
            title => "Agents", me => nav(&panel, &p, "agents").await, q, total, agents, notice, error,
            can_manage => allows(p.role(), Action::ManageFleet),
        },
        StatusCode::OK,
    ))
}

/// `?range=` and `?done=` of the detail page.
#[derive(Deserialize, Default)]
pub struct DetailQuery {
    range: Option<String>,
    done: Option<String>,
}

/// What the detail page shows around the agent: messages and the tags form's value.
#[derive(Default)]
pub struct Extras<'a> {
    /// A fixed notice.
    pub notice: &'a str,
    /// What went wrong.
    pub error: &'a str,
    /// The tags field as typed (shown again next to an error).
    pub tags: Option<&'a str>,
    /// The run form as typed (shown again next to a refusal).
    pub run: Option<&'a RunFields>,
}

fn done_message(code: Option<&str>) -> &'static str {
    match code {
        Some("tags") => "The tags were saved.",
        Some("deactivated") => {
            "The agent was deactivated: its certificate is refused and \
                                its connection closed."
        }
        Some("reauth") => "Password confirmed for the next 5 minutes.",
        _ => "",
    }
}

/// `GET /agents/{id}`.
#[allow(clippy::too_many_arguments)] // one extractor each; axum takes them as arguments
pub async fn detail(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, HttpError> {
    let range = query
        .range
        .as_deref()
        .and_then(MetricsRange::parse)
        .unwrap_or(MetricsRange::Hour);
    let extras = Extras {
        notice: done_message(query.done.as_deref()),
        ..Extras::default()
    };
    render_detail(
        &panel,
        p,
        &id,
        (request_id, peer),
        &csrf,
        range,
        extras,
        StatusCode::OK,
    )
    .await
}

/// Renders agent `id`'s page with `status`; a missing agent (or another team's) is 404.
#[allow(clippy::too_many_arguments)]
pub async fn render_detail(
    panel: &Arc<Panel>,
    p: Principal,
    id: &str,
    (request_id, peer): (String, SocketAddr),
    csrf: &str,
    range: MetricsRange,
    extras: Extras<'_>,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let hub = Arc::clone(&panel.hub);
    let pp = p.clone();
    let wanted = id.to_string();
    let found = blocking(panel, move |f| {
        let a = f.agent(&pp, &ctx, &wanted)?;
        // The newest heartbeats wait in the hub for its next batch write; write them now so
        // the charts end at the present. A failed flush must not hide the rest.
        if let Err(e) = hub.flush() {
            tracing::warn!(error = %e, "could not write pending heartbeat samples");
        }
        let points = f.metrics(&pp, &ctx, &wanted, range)?;
        Ok((a, points))
    })
    .await?;
    let (a, points) = match found {
        Ok(found) => found,
        Err(e) => {
            // Nothing of the agent can be shown (two-factor missing): say why on a bare page.
            let (code, m) = message(e)?;
            return Err(HttpError::new(code, "forbidden", m));
        }
    };
    let recent = super::agent_commands::recent(panel, &p, &a.id.0).await?;
    let run = extras.run.cloned().unwrap_or_default();
    let live = panel.hub.status(&a.id);
    let now = panel.clock.now().unix_timestamp().max(0) as u64;
    let charts = charts(&a, &points, range, now);
    let ranges: Vec<_> = RANGES
        .iter()
        .map(|r| minijinja::context! { name => r, current => *r == range.as_str() })
        .collect();
    let tags = extras
        .tags
        .map_or_else(|| a.tags.join(", "), str::to_string);
    Ok(page(
        panel,
        "agent.html",
        minijinja::context! {
            title => a.name.clone(), me => nav(panel, &p, "agents").await, csrf,
            notice => extras.notice, error => extras.error,
            agent => agent_context(&a, &live, panel.fleet.min_agent_version()),
            active => a.status == crate::fleet::AgentStatus::Active,
            charts, ranges, range => range.as_str(), tags,
            can_manage => allows(p.role(), Action::ManageFleet),
            can_operate => allows(p.role(), Action::Operate), recent,
            run_command => run.command, run_timeout => run.timeout_s,
            request_id => new_request_id(),
            reauthenticated => p.reauthenticated(panel.clock.now().unix_timestamp()),
            min_version => {
                let (x, y, z) = panel.fleet.min_agent_version();
                format!("{x}.{y}.{z}")
            },
        },
        status,
    ))
}

/// The four health charts, as safe SVG strings with their headings.
fn charts(a: &AgentRow, points: &[Point], range: MetricsRange, now: u64) -> Vec<minijinja::Value> {
    let from = now.saturating_sub(range.secs());
    // Buckets are range/360 seconds wide (heartbeats every 10 s): more than three empty
    // buckets in a row means the agent was away, and the line breaks.
    let max_gap = (range.secs() / 360).max(10) * 3;
    let series = |name, class, f: fn(&Point) -> f64| Series {
        name,
        class,
        points: points.iter().map(|p| (p.at, f(p))).collect(),
    };
    let chart = |heading: &str, scale, series: Vec<Series>| {
        let svg = Chart {
            title: format!("{heading} of {} over the last {}", a.name, range.as_str()),
            from,
            to: now,
            max_gap,
            scale,
            series,
        }
        .render();
        minijinja::context! {
            heading, svg => minijinja::Value::from_safe_string(svg),
        }
    };
    vec![
        chart(
            "CPU",
            Scale::Percent,
            vec![series("CPU", "series-a", |p| {
                f64::from(p.sample.cpu_percent)
            })],
        ),
        chart(
            "Memory",
            Scale::Percent,
            vec![series("used", "series-a", |p| {
                percent(p.sample.memory_used_bytes, p.sample.memory_total_bytes)
            })],
        ),
        chart(
            "Disk",
            Scale::Percent,
            vec![series("used", "series-a", |p| {
                percent(p.sample.disk_used_bytes, p.sample.disk_total_bytes)
            })],
        ),
        chart(
            "Network",
            Scale::BytesPerSecond,
            vec![
                series("in", "series-a", |p| p.sample.net_rx_bytes_per_s as f64),
                series("out", "series-b", |p| p.sample.net_tx_bytes_per_s as f64),
            ],
        ),
    ]
}
