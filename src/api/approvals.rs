//! `/api/v1/approvals`: the team's commands waiting for an approval; owners and admins
//! other than the requester approve (with a password confirmed in the last 5 minutes) or
//! deny them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::{Extension, Json};
use serde::Serialize;

use super::command_view::CommandView;
use super::errors::commands_blocking;
use super::ApiState;
use crate::commands::Verdict;
use crate::identity::Principal;
use crate::web::{Authed, HttpError, RequestId};

/// The approval queue.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApprovalList {
    /// Oldest first.
    approvals: Vec<CommandView>,
}

/// `GET /api/v1/approvals` (every role may look).
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "list_approvals", tag = "commands", responses((status = 200, description = "Commands waiting for an approval, with their risk, indicators and target", body = ApprovalList), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<ApprovalList>, HttpError> {
    let rows = commands_blocking(&api, move |c| c.approvals(&principal)).await?;
    let approvals = rows
        .into_iter()
        .map(|r| CommandView::new(r, &api.commands))
        .collect();
    Ok(Json(ApprovalList { approvals }))
}

async fn decide(
    api: Arc<ApiState>,
    principal: Principal,
    (request_id, peer): (String, SocketAddr),
    id: String,
    verdict: Verdict,
) -> Result<Json<CommandView>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let row = commands_blocking(&api, move |c| c.decide(&principal, &ctx, &id, verdict)).await?;
    Ok(Json(CommandView::new(row, &api.commands)))
}

/// `POST /api/v1/approvals/{id}/approve`.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", operation_id = "approve_command", tag = "commands", params(("id" = String, Path, description = "Command id (cmd_…)")), responses((status = 200, description = "Approved: queued for its agent", body = CommandView), (status = 403, description = "Your own command, role too low, re-auth required (sessions only), CSRF token missing or two-factor required", body = crate::api::ErrorBody), (status = 404, description = "No such command in your team", body = crate::api::ErrorBody), (status = 409, description = "Not waiting for an approval (decided, expired) or the policy now refuses it", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody)))]
pub async fn approve(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<CommandView>, HttpError> {
    decide(api, principal, (request_id, peer), id, Verdict::Approve).await
}

/// `POST /api/v1/approvals/{id}/deny`.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/deny", operation_id = "deny_command", tag = "commands", params(("id" = String, Path, description = "Command id (cmd_…)")), responses((status = 200, description = "Denied", body = CommandView), (status = 403, description = "Your own command, role too low, CSRF token missing or two-factor required", body = crate::api::ErrorBody), (status = 404, description = "No such command in your team", body = crate::api::ErrorBody), (status = 409, description = "Not waiting for an approval", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody)))]
pub async fn deny(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<CommandView>, HttpError> {
    decide(api, principal, (request_id, peer), id, Verdict::Deny).await
}
