//! `/api/v1/agents`: the team's agents with their live state, one agent, its health history,
//! and the admin actions (tags, deactivate, delete). Thin over `Fleet` (which checks roles,
//! scopes every lookup to the caller's team and its API token's agent/tag restriction, and
//! audits) and the rendezvous `Hub` (which knows who is connected).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::errors::fleet_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::fleet::needs_update;
use crate::fleet::{AgentRow, AgentStatus, MetricsRange, Point, Sample};
use crate::identity::Principal;
use crate::rendezvous::Hub;
use crate::web::{Authed, HttpError, RequestId};

/// What `?range=` accepts.
const RANGES: &str = "1h, 6h, 24h, 7d, 30d";

/// An agent with its live state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// `agt_…` (also its certificate's CN).
    id: String,
    /// Display name.
    name: String,
    /// Host name it reported.
    hostname: String,
    /// Operating system it reported.
    os: String,
    /// Agent version it reported.
    version: String,
    /// Tags.
    tags: Vec<String>,
    /// `active` or `deactivated`.
    #[schema(value_type = String)]
    status: AgentStatus,
    /// Connected and heartbeating now.
    online: bool,
    /// Unix seconds the current connection was accepted.
    connected_since: Option<i64>,
    /// Unix seconds of the last heartbeat on the current connection.
    last_heartbeat: Option<i64>,
    /// Unix seconds it was last known to be there (last heartbeat, or last disconnect).
    last_seen: Option<i64>,
    /// Unix seconds of enrollment.
    enrolled: i64,
    /// Its version is below the appliance's `min_agent_version` (it will be refused).
    needs_update: bool,
    /// The last reported health, while connected.
    latest: Option<Sample>,
}

impl AgentView {
    fn new(a: AgentRow, hub: &Hub, min: (u64, u64, u64)) -> Self {
        let live = hub.status(&a.id);
        let last_seen = live.last_heartbeat.or(live.connected_since).or(a.last_seen);
        Self {
            needs_update: needs_update(&a.version, min),
            id: a.id.0,
            name: a.name,
            hostname: a.hostname,
            os: a.os,
            version: a.version,
            tags: a.tags,
            status: a.status,
            online: live.online,
            connected_since: live.connected_since,
            last_heartbeat: live.last_heartbeat,
            last_seen,
            enrolled: a.enrolled,
            latest: live.latest,
        }
    }
}

/// The team's agents.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentList {
    agents: Vec<AgentView>,
}

/// An agent's health history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MetricsView {
    /// The agent.
    agent: String,
    /// The range asked for.
    range: String,
    /// Points, oldest first, each the average of its bucket (at most 360).
    points: Vec<Point>,
}

/// `?range=` of the metrics route.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// One of 1h, 6h, 24h, 7d, 30d (default 1h).
    range: Option<String>,
}

/// `PUT /api/v1/agents/{id}/tags` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    /// The new tags (replacing the old): 1-32 characters of a-z 0-9 - _ . :, at most 16.
    tags: Vec<String>,
}

fn view(api: &ApiState, a: AgentRow) -> AgentView {
    AgentView::new(a, &api.hub, api.fleet.min_agent_version())
}

/// `GET /api/v1/agents`: every role may look; a restricted API token sees only its agents.
#[utoipa::path(get, path = "/api/v1/agents", operation_id = "list_agents", tag = "fleet", responses((status = 200, description = "The team's agents with their live state", body = AgentList), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<AgentList>, HttpError> {
    let rows = fleet_blocking(&api, move |f| f.agents(&principal)).await?;
    let agents = rows.into_iter().map(|a| view(&api, a)).collect();
    Ok(Json(AgentList { agents }))
}

/// `GET /api/v1/agents/{id}`: another team's agent, or one outside the API token's
/// restriction, is 404 (and audited).
#[utoipa::path(get, path = "/api/v1/agents/{id}", operation_id = "get_agent", tag = "fleet", params(("id" = String, Path, description = "Agent id (agt_…)")), responses((status = 200, description = "The agent", body = AgentView), (status = 404, description = "No such agent in your team (or outside your API token's agent/tag restriction)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn get(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let a = fleet_blocking(&api, move |f| f.agent(&principal, &ctx, &id)).await?;
    Ok(Json(view(&api, a)))
}

/// `GET /api/v1/agents/{id}/metrics?range=1h`: health history, newest samples included.
#[utoipa::path(get, path = "/api/v1/agents/{id}/metrics", operation_id = "agent_metrics", tag = "fleet", params(("id" = String, Path, description = "Agent id (agt_…)"), RangeQuery), responses((status = 200, description = "Health history", body = MetricsView), (status = 400, description = "Unknown range (names the allowed values)", body = crate::api::ErrorBody), (status = 404, description = "No such agent in your team (or outside your API token's agent/tag restriction)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn metrics(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<MetricsView>, HttpError> {
    let asked = q.range.as_deref().unwrap_or("1h");
    let range = MetricsRange::parse(asked).ok_or_else(|| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("range: must be one of {RANGES}"),
        )
    })?;
    let ctx = principal.request_context(request_id, peer);
    let hub = Arc::clone(&api.hub);
    let agent = id.clone();
    let points = fleet_blocking(&api, move |f| {
        // The newest heartbeats wait in the hub for the next batch write; write them now
        // so the history ends at the present. A failed flush must not hide the rest.
        if let Err(e) = hub.flush() {
            tracing::warn!(error = %e, "could not write pending heartbeat samples");
        }
        f.metrics(&principal, &ctx, &agent, range)
    })
    .await?;
    Ok(Json(MetricsView {
        agent: id,
        range: range.as_str().to_string(),
        points,
    }))
}

/// `PUT /api/v1/agents/{id}/tags`: replaces the tags (owners and admins). A restricted API
/// token retags only agents it can see; tags that take an agent out of its restriction are
/// accepted and hide the agent from it afterwards.
#[utoipa::path(put, path = "/api/v1/agents/{id}/tags", operation_id = "set_agent_tags", tag = "fleet", params(("id" = String, Path, description = "Agent id (agt_…)")), request_body = TagsBody, responses((status = 200, description = "The agent with its new tags", body = AgentView), (status = 400, description = "Bad tags (names the field)", body = crate::api::ErrorBody), (status = 404, description = "No such agent in your team (or outside your API token's agent/tag restriction)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn set_tags(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TagsBody>,
) -> Result<Json<AgentView>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let a = fleet_blocking(&api, move |f| f.set_tags(&principal, &ctx, &id, body.tags)).await?;
    Ok(Json(view(&api, a)))
}

/// `POST /api/v1/agents/{id}/deactivate`: its certificate is refused from now on and its
/// live connection closed (owners and admins).
#[utoipa::path(post, path = "/api/v1/agents/{id}/deactivate", operation_id = "deactivate_agent", tag = "fleet", params(("id" = String, Path, description = "Agent id (agt_…)")), responses((status = 200, description = "Deactivated (or already was)", body = AgentView), (status = 404, description = "No such agent in your team (or outside your API token's agent/tag restriction)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn deactivate(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let a = fleet_blocking(&api, move |f| f.deactivate(&principal, &ctx, &id)).await?;
    Ok(Json(view(&api, a)))
}

/// `DELETE /api/v1/agents/{id}`: removes the agent and its history (owners and admins, with
/// a password confirmed in the last 5 minutes: `POST /api/v1/auth/reauth`).
#[utoipa::path(delete, path = "/api/v1/agents/{id}", operation_id = "delete_agent", tag = "fleet", params(("id" = String, Path, description = "Agent id (agt_…)")), responses((status = 204, description = "Deleted"), (status = 404, description = "No such agent in your team (or outside your API token's agent/tag restriction)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn delete(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    fleet_blocking(&api, move |f| f.delete(&principal, &ctx, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
