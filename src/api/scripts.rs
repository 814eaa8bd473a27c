//! `/api/v1/scripts`: the team's approved script library. Owners and admins approve scripts
//! (each save a new, content-hashed version); members run them with `{"script": NAME}` on
//! the command routes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::errors::commands_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::commands::{NewScript, ScriptRow};
use crate::identity::Principal;
use crate::web::{Authed, HttpError, RequestId};

/// `POST /api/v1/scripts` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptBody {
    /// 1–64 characters of a-z 0-9 - _ . (an existing name gets a new version).
    name: String,
    /// What it does.
    description: Option<String>,
    /// The script (run with `/bin/sh -c`).
    content: String,
}

/// One version of a script.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScriptView {
    name: String,
    version: u32,
    description: String,
    content: String,
    /// Hex SHA-256 of `content`.
    sha256: String,
    /// The owner or admin who approved it.
    approved_by: String,
    /// Unix seconds of the approval.
    approved: i64,
    /// The engine's risk score at approval.
    risk_score: u8,
    /// Retired scripts cannot run.
    retired: bool,
}

impl From<ScriptRow> for ScriptView {
    fn from(s: ScriptRow) -> Self {
        Self {
            name: s.name,
            version: s.version,
            description: s.description,
            content: s.content,
            sha256: s.sha256,
            approved_by: s.approved_by,
            approved: s.approved_ms / 1000,
            risk_score: s.risk_score,
            retired: s.retired,
        }
    }
}

/// Scripts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScriptList {
    scripts: Vec<ScriptView>,
}

/// `GET /api/v1/scripts`: the newest version of each script.
#[utoipa::path(get, path = "/api/v1/scripts", operation_id = "list_scripts", tag = "scripts", responses((status = 200, description = "The library", body = ScriptList), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<ScriptList>, HttpError> {
    let rows = commands_blocking(&api, move |c| c.scripts(&principal)).await?;
    Ok(Json(ScriptList {
        scripts: rows.into_iter().map(ScriptView::from).collect(),
    }))
}

/// `POST /api/v1/scripts`: approve a script or a new version (owners and admins).
#[utoipa::path(post, path = "/api/v1/scripts", operation_id = "approve_script", tag = "scripts", request_body = ScriptBody, responses((status = 201, description = "Approved as the next version", body = ScriptView), (status = 400, description = "Bad name or content, or a hard-block rule refuses it", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn approve(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<ScriptBody>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let new = NewScript {
        name: body.name,
        description: body.description.unwrap_or_default(),
        content: body.content,
    };
    let row = commands_blocking(&api, move |c| c.approve_script(&principal, &ctx, new)).await?;
    Ok((StatusCode::CREATED, Json(ScriptView::from(row))).into_response())
}

/// `GET /api/v1/scripts/{name}`: every version, newest first.
#[utoipa::path(get, path = "/api/v1/scripts/{name}", operation_id = "get_script", tag = "scripts", params(("name" = String, Path, description = "Script name")), responses((status = 200, description = "Every version", body = ScriptList), (status = 404, description = "No such script in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn versions(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Path(name): Path<String>,
) -> Result<Json<ScriptList>, HttpError> {
    let rows = commands_blocking(&api, move |c| c.script_versions(&principal, &name)).await?;
    Ok(Json(ScriptList {
        scripts: rows.into_iter().map(ScriptView::from).collect(),
    }))
}

/// `DELETE /api/v1/scripts/{name}`: retire every version (owners and admins).
#[utoipa::path(delete, path = "/api/v1/scripts/{name}", operation_id = "retire_script", tag = "scripts", params(("name" = String, Path, description = "Script name")), responses((status = 204, description = "Retired"), (status = 404, description = "No such script in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn retire(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<StatusCode, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    commands_blocking(&api, move |c| c.retire_script(&principal, &ctx, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}
