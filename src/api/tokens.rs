//! `/api/v1/tokens`: list, issue and revoke API tokens. A token's value appears once, in the
//! answer to the `POST` that issued it; the team always comes from the caller.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::json::ApiJson;
use super::ApiState;
use crate::identity::{NewToken, Principal, TokenError, TokenRow, MAX_TOKEN_TTL_SECS};
use crate::model::Role;
use crate::web::{Authed, HttpError, RequestId};

/// `POST /api/v1/tokens` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: String,
    expires_in_days: Option<i64>,
    /// Agent ids the token may reach. With `tags`, an agent is reachable when its id is
    /// listed or it carries a listed tag; both empty or absent: every agent of the team.
    agents: Option<Vec<String>>,
    /// Agent tags the token may reach (see `agents`).
    tags: Option<Vec<String>>,
}

/// Maps a token error to its answer.
fn http(e: TokenError) -> HttpError {
    match e {
        TokenError::Invalid { field, message } => HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field}: {message}"),
        ),
        TokenError::Forbidden(message) => {
            HttpError::new(StatusCode::FORBIDDEN, "forbidden", message)
        }
        TokenError::ReauthRequired => HttpError::new(
            StatusCode::FORBIDDEN,
            "reauth_required",
            "Issuing an admin-scope token needs your password confirmed within the last 5 \
             minutes (POST /api/v1/auth/reauth), then try again.",
        ),
        TokenError::NotFound => HttpError::not_found(),
        e @ TokenError::TooMany => {
            HttpError::new(StatusCode::CONFLICT, "too_many_tokens", e.to_string())
        }
        TokenError::Identity(e) => super::errors::identity(e),
        e @ (TokenError::Audit(_) | TokenError::Store(_)) => HttpError::internal(e),
    }
}

/// A token as listed (never its value).
fn view(t: &TokenRow) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "created": t.created,
        "expires": t.expires,
        "last_used": t.last_used,
        "agents": t.agents,
        "tags": t.tags,
    })
}

/// Runs identity work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TokenError> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(HttpError::internal)?
        .map_err(http)
}

/// `GET /api/v1/tokens`: the team's tokens for owners and admins, one's own for others.
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "tokens", responses((status = 200, description = "Tokens you may see (never their values)"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let identity = Arc::clone(&api.identity);
    let tokens = blocking(move || identity.list_tokens(&principal)).await?;
    let tokens: Vec<_> = tokens.iter().map(view).collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

/// `POST /api/v1/tokens`: issues a token; 201 with its value, the only time it is shown.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_token", tag = "tokens", request_body = CreateToken, responses((status = 201, description = "Token created; its value is in this response only"), (status = 400, description = "Bad input", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn create(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<Response, HttpError> {
    let role: Role = body.role.parse().map_err(|e: String| {
        http(TokenError::Invalid {
            field: "role",
            message: e,
        })
    })?;
    let max_days = MAX_TOKEN_TTL_SECS / 86_400;
    let expires = match body.expires_in_days {
        None => None,
        Some(d) if (1..=max_days).contains(&d) => {
            Some(api.clock.now().unix_timestamp() + d * 86_400)
        }
        Some(_) => {
            return Err(http(TokenError::Invalid {
                field: "expires_in_days",
                message: format!("must be a whole number from 1 to {max_days}"),
            }))
        }
    };
    let req = NewToken {
        name: body.name,
        role,
        expires,
        agents: body.agents.unwrap_or_default(),
        tags: body.tags.unwrap_or_default(),
    };
    let ctx = principal.request_context(request_id, peer);
    let identity = Arc::clone(&api.identity);
    let (value, row) = blocking(move || identity.create_token(&principal, &ctx, req)).await?;
    let body = serde_json::json!({
        "id": row.id,
        "token": value.expose(),
        "name": row.name,
        "role": row.role,
        "expires": row.expires,
        "agents": row.agents,
        "tags": row.tags,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{id}`: revokes at once; 404 alike for missing and other teams'.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "revoke_token", tag = "tokens", params(("id" = String, Path, description = "Token id")), responses((status = 204, description = "Revoked"), (status = 404, description = "No such token in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn revoke(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let identity = Arc::clone(&api.identity);
    blocking(move || identity.revoke_token(&principal, &ctx, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
