//! `POST /api/v1/agents/enroll`: an agent enrolls with a registration token (sent as
//! `Authorization: Bearer tnd_reg_…`, never in the body and never logged).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};

use super::errors::fleet_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::audit::AuditContext;
use crate::model::Actor;
use crate::proto::enroll::{EnrollRequest, EnrollResponse};
use crate::web::{HttpError, RequestId};

/// `POST /api/v1/agents/enroll` body (see `proto::enroll`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents `EnrollRequest` for the OpenAPI document
pub struct EnrollBody {
    identity_key: String,
    csr_pem: String,
    hostname: String,
    os: String,
    version: String,
    name: Option<String>,
    tags: Vec<String>,
    timestamp_ms: i64,
    nonce: String,
    signature: String,
}

/// The answer to an accepted enrollment (see `proto::enroll`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EnrolledBody {
    agent_id: String,
    certificate_pem: String,
    ca_pem: String,
    rendezvous: Vec<String>,
    grant_public_key: String,
    heartbeat_interval_s: u32,
}

/// Enrolls an agent.
#[utoipa::path(
    post,
    path = "/api/v1/agents/enroll",
    operation_id = "enroll_agent",
    tag = "fleet",
    request_body = EnrollBody,
    responses(
        (status = 200, description = "Enrolled: the agent's certificate and where to connect", body = EnrolledBody),
        (status = 400, description = "Bad request, bad signature, clock skew or replayed nonce", body = super::ErrorBody),
        (status = 401, description = "Unknown, expired or used-up registration token", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn enroll(
    State(api): State<Arc<ApiState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollResponse>, HttpError> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.starts_with("tnd_reg_"))
        .map(str::to_string)
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::UNAUTHORIZED,
                "unknown_token",
                "send the registration token as Authorization: Bearer tnd_reg_…",
            )
        })?;
    let ctx = AuditContext {
        request_id: Some(request_id),
        source_ip: Some(peer.ip()),
        ..AuditContext::actor(Actor::Anonymous)
    };
    let answer = fleet_blocking(&api, move |fleet| fleet.enroll(&ctx, &token, &body)).await?;
    Ok(Json(answer))
}
