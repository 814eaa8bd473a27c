//! `/api/v1/registration-tokens`: agent registration tokens (owners and admins). A token's
//! value appears once, in the answer to the `POST` that created it, together with the
//! complete command that enrolls an agent with it; the team always comes from the caller.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::errors::fleet_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::fleet::{NewRegToken, RegTokenRow};
use crate::identity::Principal;
use crate::web::{Authed, HttpError, RequestId};

/// `POST /api/v1/registration-tokens` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegToken {
    /// Lifetime in seconds (default 3600, 60 to 604800).
    ttl_secs: Option<i64>,
    /// Enrollments allowed (default 1).
    uses: Option<u32>,
    /// Tags every agent enrolled with it starts with.
    tags: Option<Vec<String>>,
}

/// A registration token as listed (never its value).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegTokenView {
    /// `reg_…`.
    id: String,
    /// Who created it.
    created_by: String,
    /// Unix seconds of creation.
    created: i64,
    /// Unix seconds after which it is refused.
    expires: i64,
    /// Enrollments it allows in all.
    uses: u32,
    /// Enrollments made with it.
    used: u32,
    /// Tags of the agents it enrolls.
    tags: Vec<String>,
}

impl From<RegTokenRow> for RegTokenView {
    fn from(r: RegTokenRow) -> Self {
        Self {
            id: r.id,
            created_by: r.created_by,
            created: r.created,
            expires: r.expires,
            uses: r.uses,
            used: r.used,
            tags: r.tags,
        }
    }
}

/// The team's usable registration tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegTokenList {
    registration_tokens: Vec<RegTokenView>,
}

/// A created registration token: its value, shown this once, and the enroll command.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegTokenCreated {
    /// `reg_…` (for listing and revoking).
    id: String,
    /// `tnd_reg_…`; not retrievable again.
    token: String,
    /// Unix seconds after which it is refused.
    expires: i64,
    /// Enrollments it allows.
    uses: u32,
    /// Tags of the agents it enrolls.
    tags: Vec<String>,
    /// The complete command that enrolls an agent host with it (after `install.sh --agent`).
    enroll_command: String,
}

/// `GET /api/v1/registration-tokens`: the team's usable tokens, never their values.
#[utoipa::path(get, path = "/api/v1/registration-tokens", operation_id = "list_registration_tokens", tag = "fleet", responses((status = 200, description = "Usable registration tokens (never their values)", body = RegTokenList), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<RegTokenList>, HttpError> {
    let rows = fleet_blocking(&api, move |f| f.registration_tokens(&principal)).await?;
    Ok(Json(RegTokenList {
        registration_tokens: rows.into_iter().map(RegTokenView::from).collect(),
    }))
}

/// `POST /api/v1/registration-tokens`: 201 with the value, the only time it is shown.
#[utoipa::path(post, path = "/api/v1/registration-tokens", operation_id = "create_registration_token", tag = "fleet", request_body = CreateRegToken, responses((status = 201, description = "Created; its value and enroll command are in this response only", body = RegTokenCreated), (status = 400, description = "Bad input (names the field)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody), (status = 409, description = "Too many live tokens", body = crate::api::ErrorBody)))]
pub async fn create(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<CreateRegToken>,
) -> Result<Response, HttpError> {
    let req = NewRegToken {
        ttl_secs: body.ttl_secs,
        uses: body.uses,
        tags: body.tags.unwrap_or_default(),
    };
    let ctx = principal.request_context(request_id, peer);
    let (value, row) = fleet_blocking(&api, move |f| {
        f.create_registration_token(&principal, &ctx, req)
    })
    .await?;
    let enroll_command = api.fleet.enroll_command(&api.enroll_server, value.expose());
    let body = RegTokenCreated {
        id: row.id,
        token: value.expose().clone(),
        expires: row.expires,
        uses: row.uses,
        tags: row.tags,
        enroll_command,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/registration-tokens/{id}`: revoked at once; 404 alike for missing and
/// other teams' tokens.
#[utoipa::path(delete, path = "/api/v1/registration-tokens/{id}", operation_id = "revoke_registration_token", tag = "fleet", params(("id" = String, Path, description = "Registration token id (reg_…)")), responses((status = 204, description = "Revoked"), (status = 404, description = "No such token in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn revoke(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    fleet_blocking(&api, move |f| {
        f.revoke_registration_token(&principal, &ctx, &id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
