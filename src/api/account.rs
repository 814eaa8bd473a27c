//! `/api/v1/account/*`: the signed-in user's own two-factor enrollment.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::errors::blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::identity::{IdentityError, Principal};
use crate::web::{Authed, HttpError, RequestId};

/// Starts TOTP enrollment: `{secret, otpauth_uri, qr_svg}`, shown once. Replacing an
/// enrolled key needs a fresh re-auth.
#[utoipa::path(post, path = "/api/v1/account/totp/setup", tag = "account", responses((status = 200, description = "secret, otpauth_uri and qr_svg (shown once)"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn totp_setup(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let now = api.clock.now().unix_timestamp();
    let enrollment = blocking(&api, move |identity| {
        let enrolled = identity
            .user_by_email(p.email())?
            .is_some_and(|u| u.totp_sealed.is_some());
        if enrolled && !p.reauthenticated(now) {
            return Err(IdentityError::ReauthRequired);
        }
        identity.begin_totp(p.user())
    })
    .await?;
    Ok(Json(serde_json::json!({
        "secret": enrollment.secret.expose(),
        "otpauth_uri": enrollment.otpauth_uri.expose(),
        "qr_svg": enrollment.qr_svg,
    })))
}

/// `POST /api/v1/account/totp/confirm` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    code: String,
}

/// Confirms enrollment with a first code; answers the ten recovery codes (shown once).
#[utoipa::path(post, path = "/api/v1/account/totp/confirm", tag = "account", request_body = Confirm, responses((status = 200, description = "Two-factor on; recovery_codes (shown once)"), (status = 400, description = "Wrong code", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn totp_confirm(
    State(api): State<Arc<ApiState>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(body): ApiJson<Confirm>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let codes = blocking(&api, move |identity| {
        identity.confirm_totp(&ctx, p.user(), &body.code)
    })
    .await?;
    let Some(codes) = codes else {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_code",
            "That code is not right. Check that your phone's clock is correct and try the next code.",
        ));
    };
    let codes: Vec<&str> = codes.iter().map(|c| c.expose().as_str()).collect();
    Ok(Json(serde_json::json!({ "recovery_codes": codes })))
}
