//! `/api/v1/users`: the active team's members and their roles.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::errors::{self, blocking};
use super::json::ApiJson;
use super::ApiState;
use crate::crypto::Secret;
use crate::identity::{check_new_password, Principal};
use crate::model::{Role, UserId};
use crate::web::{Authed, HttpError, RequestId};

fn parse_role(role: &str) -> Result<Role, HttpError> {
    role.parse().map_err(|m: String| {
        HttpError::new(StatusCode::BAD_REQUEST, "bad_request", format!("role: {m}"))
    })
}

/// `GET /api/v1/users`.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "users", responses((status = 200, description = "The active team's members"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let members = blocking(&api, move |id| id.list_members(&p)).await?;
    Ok(Json(serde_json::json!({ "users": members })))
}

/// `POST /api/v1/users` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    email: String,
    role: String,
    /// The initial password of a new account (ignored for an existing user).
    password: Option<String>,
}

/// `POST /api/v1/users`: adds a member (creating the account when it is new).
#[utoipa::path(post, path = "/api/v1/users", operation_id = "add_user", tag = "users", request_body = NewMember, responses((status = 201, description = "Member added"), (status = 400, description = "Bad input", body = crate::api::ErrorBody), (status = 409, description = "Already a member", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn add(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<Response, HttpError> {
    let role = parse_role(&body.role)?;
    p.check_can_act().map_err(errors::identity)?;
    let phc = match body.password {
        Some(pw) => {
            check_new_password(&pw, &body.email).map_err(|e| {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("password: {e}"),
                )
            })?;
            Some(
                api.identity
                    .pool()
                    .hash(Secret::new(pw))
                    .await
                    .map_err(|e| match e {
                        crate::crypto::password::PoolError::Busy { retry_after_secs } => {
                            HttpError::for_status(StatusCode::SERVICE_UNAVAILABLE)
                                .retry_after(retry_after_secs)
                        }
                        other => HttpError::internal(other),
                    })?,
            )
        }
        None => None,
    };
    let ctx = p.request_context(request_id, peer);
    let member = blocking(&api, move |id| {
        id.add_member(&p, &ctx, &body.email, role, phc)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(member)).into_response())
}

/// `PATCH /api/v1/users/{id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: String,
}

/// `PATCH /api/v1/users/{id}`: changes a member's role (needs a fresh re-auth).
#[utoipa::path(patch, path = "/api/v1/users/{id}", operation_id = "change_user_role", tag = "users", params(("id" = String, Path, description = "User id")), request_body = RoleChange, responses((status = 200, description = "Role changed"), (status = 404, description = "No such member in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn change(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
    Path(user): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<crate::identity::Member>, HttpError> {
    let role = parse_role(&body.role)?;
    let ctx = p.request_context(request_id, peer);
    let member = blocking(&api, move |id| {
        id.change_role(&p, &ctx, &UserId(user), role)
    })
    .await?;
    Ok(Json(member))
}

/// `DELETE /api/v1/users/{id}`: removes a member from the team.
#[utoipa::path(delete, path = "/api/v1/users/{id}", operation_id = "remove_user", tag = "users", params(("id" = String, Path, description = "User id")), responses((status = 204, description = "Member removed"), (status = 404, description = "No such member in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn remove(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
    Path(user): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
) -> Result<StatusCode, HttpError> {
    let ctx = p.request_context(request_id, peer);
    blocking(&api, move |id| id.remove_member(&p, &ctx, &UserId(user))).await?;
    Ok(StatusCode::NO_CONTENT)
}
