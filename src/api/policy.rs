//! `/api/v1/policy`: the team's ACL and command policy — read by every role, replaced whole
//! by owners and admins (an invalid policy is refused with the exact field and reason, and
//! the previous one stays), and previewed against a draft without saving.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::errors::commands_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::commands::{Evaluation, Outcome, PreviewRequest, StoredPolicy};
use crate::identity::Principal;
use crate::model::Role;
use crate::policy::TeamPolicy;
use crate::web::{Authed, HttpError, RequestId};

/// The team's policy with its version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// The policy (all defaults while `version` is 0).
    policy: TeamPolicy,
    /// 1, 2, … per save; 0: never saved.
    version: u64,
    /// Who saved it.
    updated_by: Option<String>,
    /// Unix seconds of the save.
    updated: Option<i64>,
}

impl From<StoredPolicy> for PolicyView {
    fn from(s: StoredPolicy) -> Self {
        Self {
            policy: s.policy,
            version: s.version,
            updated_by: s.updated_by,
            updated: s.updated_ms.map(|m| m / 1000),
        }
    }
}

/// `POST /api/v1/policy/preview` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// A draft policy to judge with (default: the saved one).
    policy: Option<TeamPolicy>,
    /// The command to judge.
    command: String,
    /// An agent of your team (its tags count).
    agent: Option<String>,
    /// Or the tags of a made-up agent.
    tags: Option<Vec<String>>,
    /// The requester's role (default: yours).
    role: Option<String>,
    /// Unix seconds to check time windows at (default: now).
    at: Option<i64>,
}

/// What the pipeline would decide.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    /// `blocked`, `pending_approval` or `queued` (before the rate limit).
    outcome: String,
    /// The engine's 0–100 risk score.
    risk_score: u8,
    /// `silent`, `elevated` or `blocked`.
    level: String,
    /// Every stage's decision.
    #[schema(value_type = Object)]
    decision: serde_json::Value,
}

impl From<Evaluation> for PreviewView {
    fn from(e: Evaluation) -> Self {
        Self {
            outcome: match e.outcome {
                Outcome::Blocked(_) => "blocked",
                Outcome::NeedsApproval(_) => "pending_approval",
                Outcome::Run => "queued",
            }
            .into(),
            risk_score: e.risk_score,
            level: e.level.into(),
            decision: e.decision,
        }
    }
}

/// `GET /api/v1/policy`.
#[utoipa::path(get, path = "/api/v1/policy", operation_id = "get_policy", tag = "policy", responses((status = 200, description = "The team's policy", body = PolicyView), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn get(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<PolicyView>, HttpError> {
    let stored = commands_blocking(&api, move |c| c.policy(&principal)).await?;
    Ok(Json(stored.into()))
}

/// `PUT /api/v1/policy` (owners and admins).
#[utoipa::path(put, path = "/api/v1/policy", operation_id = "put_policy", tag = "policy", request_body = TeamPolicy, responses((status = 200, description = "Saved", body = PolicyView), (status = 400, description = "Invalid policy: names the exact field and reason; the previous policy stays", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn put(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(policy): ApiJson<TeamPolicy>,
) -> Result<Json<PolicyView>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let stored = commands_blocking(&api, move |c| c.put_policy(&principal, &ctx, policy)).await?;
    Ok(Json(stored.into()))
}

/// `POST /api/v1/policy/preview`: how a command would be judged (nothing runs or is kept).
#[utoipa::path(post, path = "/api/v1/policy/preview", operation_id = "preview_policy", tag = "policy", request_body = PreviewBody, responses((status = 200, description = "The decision", body = PreviewView), (status = 400, description = "Invalid draft policy or request (names the field)", body = crate::api::ErrorBody), (status = 404, description = "No such agent in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing or two-factor required", body = crate::api::ErrorBody)))]
pub async fn preview(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<Json<PreviewView>, HttpError> {
    let role = match body.role.as_deref() {
        None => None,
        Some(r) => Some(r.parse::<Role>().map_err(|m| {
            HttpError::new(
                http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("role: {m}"),
            )
        })?),
    };
    let req = PreviewRequest {
        draft: body.policy,
        command: body.command,
        agent: body.agent,
        tags: body.tags.unwrap_or_default(),
        role,
        at: body.at,
    };
    let ctx = principal.request_context(request_id, peer);
    let eval = commands_blocking(&api, move |c| c.preview(&principal, &ctx, req)).await?;
    Ok(Json(eval.into()))
}
