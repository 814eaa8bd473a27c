//! `/api/v1/auth/*`: sign in and out.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::json::ApiJson;
use super::ApiState;
use crate::crypto::Secret;
use crate::identity::{
    LoginOutcome, LoginRequest, Principal, ABSOLUTE_TTL_SECS, REAUTH_WINDOW_SECS,
};
use crate::web::{cookies, Authed, CsrfToken, HttpError, RequestId};

/// `POST /api/v1/auth/login` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
    /// The TOTP (or a recovery) code, for users with two-factor on.
    totp: Option<String>,
}

/// Signs in; answers the same 401 for wrong, unknown, disabled and locked accounts.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login, responses((status = 200, description = "Signed in: user, team, role and csrf_token; session and CSRF cookies set"), (status = 401, description = "invalid_credentials (wrong, unknown, disabled or locked) or totp_required", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing", body = crate::api::ErrorBody), (status = 429, description = "Too many failures from this address; see Retry-After", body = crate::api::ErrorBody), (status = 503, description = "Hashing pool busy; see Retry-After", body = crate::api::ErrorBody)))]
pub async fn login(
    State(api): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, HttpError> {
    let outcome = api
        .identity
        .login(LoginRequest {
            email: body.email,
            password: Secret::new(body.password),
            second_factor: body.totp,
            ip: Some(peer.ip()),
            request_id: Some(request_id),
        })
        .await
        .map_err(HttpError::internal)?;
    match outcome {
        LoginOutcome::SignedIn {
            session_id,
            principal,
        } => {
            let body = serde_json::json!({
                "user": {"id": principal.user(), "email": principal.email()},
                "team": {"id": principal.team()},
                "role": principal.role(),
                "csrf_token": csrf,
            });
            let mut res = Json(body).into_response();
            cookies::set(
                &mut res,
                &cookies::session(session_id.expose(), ABSOLUTE_TTL_SECS),
            );
            Ok(res)
        }
        LoginOutcome::Refused => Err(invalid_credentials()),
        LoginOutcome::SecondFactorRequired { .. } => Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "totp_required",
            "Send the code from your authenticator app (or a recovery code) as `totp`.",
        )),
        LoginOutcome::Throttled { retry_after_secs } => Err(HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many failed sign-ins from your address; wait and try again.",
        )
        .retry_after(retry_after_secs)),
        LoginOutcome::Busy { retry_after_secs } => Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The appliance is busy checking other sign-ins; try again shortly.",
        )
        .retry_after(retry_after_secs)),
    }
}

/// The one answer for every refused sign-in.
pub fn invalid_credentials() -> HttpError {
    HttpError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Wrong email or password.",
    )
}

/// Signs out: the session record is deleted and the cookie cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204, description = "Signed out; session deleted"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn logout(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&api.identity);
    let ctx = principal.request_context(request_id, peer);
    tokio::task::spawn_blocking(move || identity.end_session(&principal, &ctx))
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    cookies::set(&mut res, &cookies::clear(cookies::SESSION));
    Ok(res)
}

/// `POST /api/v1/auth/reauth` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reauth {
    password: String,
    totp: Option<String>,
}

/// Opens the 5-minute re-auth window for sensitive actions.
#[utoipa::path(post, path = "/api/v1/auth/reauth", tag = "auth", request_body = Reauth, responses((status = 200, description = "Re-auth window open for 5 minutes"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn reauth(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(body): ApiJson<Reauth>,
) -> Result<Response, HttpError> {
    if principal.token_id().is_some() {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "session_required",
            "Re-authentication opens a window for a signed-in session; API tokens cannot use it.",
        ));
    }
    let ok = api
        .identity
        .reauthenticate(
            &principal,
            Secret::new(body.password),
            body.totp,
            Some(peer.ip()),
            Some(request_id),
        )
        .await
        .map_err(super::errors::identity)?;
    if !ok {
        return Err(invalid_credentials());
    }
    Ok(Json(serde_json::json!({"reauthenticated_for_secs": REAUTH_WINDOW_SECS})).into_response())
}

/// `POST /api/v1/auth/team` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTeam {
    team_id: String,
}

/// Switches the session's active team (membership required; a new session id is issued).
#[utoipa::path(post, path = "/api/v1/auth/team", tag = "auth", request_body = SwitchTeam, responses((status = 200, description = "Active team switched; new session cookie"), (status = 404, description = "Not a member of that team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn switch_team(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<SwitchTeam>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&api.identity);
    let ctx = principal.request_context(request_id, peer);
    let team = crate::model::TeamId(body.team_id);
    let (session_id, p) =
        tokio::task::spawn_blocking(move || identity.switch_team(&principal, &team, &ctx))
            .await
            .map_err(HttpError::internal)?
            .map_err(super::errors::identity)?;
    let mut res = Json(serde_json::json!({
        "user": {"id": p.user(), "email": p.email()},
        "team": {"id": p.team()},
        "role": p.role(),
    }))
    .into_response();
    cookies::set(
        &mut res,
        &cookies::session(session_id.expose(), ABSOLUTE_TTL_SECS),
    );
    Ok(res)
}
