//! The sign-in, sign-out and first-owner setup pages.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{page, Panel};
use crate::audit::AuditContext;
use crate::crypto::Secret;
use crate::identity::{
    check_new_password, IdentityError, LoginOutcome, LoginRequest, Principal, SetupRequest,
    ABSOLUTE_TTL_SECS,
};
use crate::model::Actor;
use crate::web::{cookies, Authed, CsrfToken, HttpError, RequestId};

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

/// The setup form.
#[derive(Deserialize)]
pub struct SetupForm {
    code: String,
    team: String,
    email: String,
    password: String,
    password_again: String,
}

fn signed_in(session_id: &Secret<String>) -> Response {
    let mut res = Redirect::to("/").into_response();
    cookies::set(
        &mut res,
        &cookies::session(session_id.expose(), ABSOLUTE_TTL_SECS),
    );
    res
}

/// `GET /login`.
pub async fn login_page(
    State(panel): State<Arc<Panel>>,
    who: Option<Authed<Principal>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Response {
    if who.is_some() {
        return Redirect::to("/").into_response();
    }
    page(
        &panel,
        "login.html",
        minijinja::context! { title => "Sign in", csrf => csrf, error => "", email => "" },
        StatusCode::OK,
    )
}

/// `POST /login`.
pub async fn login(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<LoginForm>,
) -> Result<Response, HttpError> {
    let outcome = panel
        .identity
        .login(LoginRequest {
            email: form.email.clone(),
            password: Secret::new(form.password),
            second_factor: None,
            ip: Some(peer.ip()),
            request_id: Some(request_id),
        })
        .await
        .map_err(HttpError::internal)?;
    finish_login(&panel, outcome, &csrf, &form.email)
}

/// The second-factor form.
#[derive(Deserialize)]
pub struct SecondFactorForm {
    pending: String,
    code: String,
}

/// `POST /login/code`: the second step of a sign-in with two-factor on.
pub async fn login_code(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, HttpError> {
    let outcome = panel
        .identity
        .login_second_step(&form.pending, form.code, Some(peer.ip()), Some(request_id))
        .await
        .map_err(HttpError::internal)?;
    finish_login(&panel, outcome, &csrf, "")
}

fn finish_login(
    panel: &Panel,
    outcome: LoginOutcome,
    csrf: &str,
    email: &str,
) -> Result<Response, HttpError> {
    let (status, error, retry) = match outcome {
        LoginOutcome::SignedIn { session_id, .. } => return Ok(signed_in(&session_id)),
        LoginOutcome::SecondFactorRequired { pending } => {
            return Ok(page(
                panel,
                "login_code.html",
                minijinja::context! { title => "Two-factor code", csrf, pending => pending.expose() },
                StatusCode::OK,
            ))
        }
        LoginOutcome::Refused => (StatusCode::UNAUTHORIZED, "Wrong email or password.", None),
        LoginOutcome::Throttled { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins from your address. Wait a while and try again.",
            Some(retry_after_secs),
        ),
        LoginOutcome::Busy { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The appliance is busy. Try again in a moment.",
            Some(retry_after_secs),
        ),
    };
    let mut res = page(
        panel,
        "login.html",
        minijinja::context! { title => "Sign in", csrf, error, email },
        status,
    );
    if let Some(secs) = retry {
        res.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    Ok(res)
}

/// `POST /logout`.
pub async fn logout(
    State(panel): State<Arc<Panel>>,
    Authed(principal): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let ctx = principal.request_context(request_id, peer);
    tokio::task::spawn_blocking(move || identity.end_session(&principal, &ctx))
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    let mut res = Redirect::to("/login").into_response();
    cookies::set(&mut res, &cookies::clear(cookies::SESSION));
    Ok(res)
}

async fn setup_pending(panel: &Arc<Panel>) -> Result<bool, HttpError> {
    let identity = Arc::clone(&panel.identity);
    tokio::task::spawn_blocking(move || identity.setup_pending())
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)
}

/// `GET /setup`: the first-owner form, while no team exists.
pub async fn setup_page(
    State(panel): State<Arc<Panel>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    if !setup_pending(&panel).await? {
        return Err(HttpError::not_found());
    }
    Ok(setup_form(&panel, &csrf, "", "", "", StatusCode::OK))
}

fn setup_form(
    panel: &Panel,
    csrf: &str,
    error: &str,
    team: &str,
    email: &str,
    status: StatusCode,
) -> Response {
    page(
        panel,
        "setup.html",
        minijinja::context! { title => "Set up Tundra", csrf, error, team, email },
        status,
    )
}

/// `POST /setup`: creates the first team and owner and signs them in.
pub async fn setup(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<SetupForm>,
) -> Result<Response, HttpError> {
    if !setup_pending(&panel).await? {
        return Err(HttpError::not_found());
    }
    let again =
        |error: &str, status| setup_form(&panel, &csrf, error, &form.team, &form.email, status);
    if form.password != form.password_again {
        return Ok(again(
            "The passwords do not match.",
            StatusCode::BAD_REQUEST,
        ));
    }
    if let Err(e) = check_new_password(&form.password, &form.email) {
        return Ok(again(&e.to_string(), StatusCode::BAD_REQUEST));
    }
    let phc = match panel
        .identity
        .pool()
        .hash(Secret::new(form.password.clone()))
        .await
    {
        Ok(phc) => phc,
        Err(e) => return Err(HttpError::internal(e)),
    };
    let identity = Arc::clone(&panel.identity);
    let ctx = AuditContext {
        request_id: Some(request_id),
        source_ip: Some(peer.ip()),
        ..AuditContext::actor(Actor::Anonymous)
    };
    let req = SetupRequest {
        code: Secret::new(form.code.clone()),
        team: form.team.clone(),
        email: form.email.clone(),
        password_phc: phc,
    };
    let result = tokio::task::spawn_blocking(move || identity.complete_setup(&ctx, req))
        .await
        .map_err(HttpError::internal)?;
    match result {
        Ok((session_id, _)) => Ok(signed_in(&session_id)),
        Err(IdentityError::SetupRefused(_)) => Ok(again(
            "That setup code is wrong or has expired. Use the newest code printed on the server's console.",
            StatusCode::FORBIDDEN,
        )),
        Err(e @ (IdentityError::Invalid(_) | IdentityError::TeamExists(_))) => {
            Ok(again(&e.to_string(), StatusCode::BAD_REQUEST))
        }
        Err(e) => Err(HttpError::internal(e)),
    }
}
