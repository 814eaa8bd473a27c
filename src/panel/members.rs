//! The members page: who is in the team with which role; owners and admins add members,
//! change roles (after re-auth) and remove members.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{nav, page, Panel};
use crate::crypto::Secret;
use crate::identity::{check_new_password, IdentityError, Principal};
use crate::model::{Role, UserId};
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes (fixed messages).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    notice: &str,
    error: &str,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let pp = p.clone();
    let members = tokio::task::spawn_blocking(move || identity.list_members(&pp))
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    let now = panel.clock.now().unix_timestamp();
    Ok(page(
        panel,
        "members.html",
        minijinja::context! {
            title => "Members", me => nav(panel, &p, "members").await, csrf, notice, error, members,
            can_manage => allows(p.role(), Action::ManageMembers),
            reauthenticated => p.reauthenticated(now),
            roles => Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        },
        status,
    ))
}

fn message(e: &IdentityError) -> Option<(StatusCode, String)> {
    Some(match e {
        IdentityError::Forbidden => (
            StatusCode::FORBIDDEN,
            "Your role does not allow that.".into(),
        ),
        IdentityError::TwoFactorRequired => (StatusCode::FORBIDDEN, e.to_string()),
        IdentityError::ReauthRequired => (
            StatusCode::FORBIDDEN,
            "Confirm your password first (form below).".into(),
        ),
        IdentityError::NotFound => return None,
        IdentityError::Invalid(_)
        | IdentityError::Password(_)
        | IdentityError::PasswordRequired
        | IdentityError::AlreadyMember { .. } => (StatusCode::BAD_REQUEST, e.to_string()),
        _ => return None,
    })
}

async fn outcome(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    result: Result<(), IdentityError>,
    done: &str,
) -> Result<Response, HttpError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/members?done={done}")).into_response()),
        Err(IdentityError::NotFound) => Err(HttpError::not_found()),
        Err(e) => match message(&e) {
            Some((status, m)) => render(panel, p, csrf, "", &m, status).await,
            None => Err(HttpError::internal(e)),
        },
    }
}

/// `GET /members`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("added") => "Member added.",
        Some("role") => "Role changed.",
        Some("removed") => "Member removed.",
        Some("reauth") => "Password confirmed for the next 5 minutes.",
        _ => "",
    };
    render(&panel, p, &csrf, notice, "", StatusCode::OK).await
}

/// The add form.
#[derive(Deserialize)]
pub struct AddForm {
    email: String,
    role: String,
    password: String,
}

/// `POST /members`.
pub async fn add(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<AddForm>,
) -> Result<Response, HttpError> {
    let Ok(role) = form.role.parse::<Role>() else {
        return render(
            &panel,
            p,
            &csrf,
            "",
            "Choose a role.",
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let phc = if form.password.is_empty() {
        None
    } else {
        if let Err(e) = check_new_password(&form.password, &form.email) {
            return render(
                &panel,
                p,
                &csrf,
                "",
                &e.to_string(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        Some(
            panel
                .identity
                .pool()
                .hash(Secret::new(form.password))
                .await
                .map_err(HttpError::internal)?,
        )
    };
    let identity = Arc::clone(&panel.identity);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let result = tokio::task::spawn_blocking(move || {
        identity
            .add_member(&pp, &ctx, &form.email, role, phc)
            .map(|_| ())
    })
    .await
    .map_err(HttpError::internal)?;
    outcome(&panel, p, &csrf, result, "added").await
}

/// The role form.
#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /members/{id}/role`.
pub async fn role(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<RoleForm>,
) -> Result<Response, HttpError> {
    let Ok(role) = form.role.parse::<Role>() else {
        return render(
            &panel,
            p,
            &csrf,
            "",
            "Choose a role.",
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let identity = Arc::clone(&panel.identity);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let result = tokio::task::spawn_blocking(move || {
        identity
            .change_role(&pp, &ctx, &UserId(id), role)
            .map(|_| ())
    })
    .await
    .map_err(HttpError::internal)?;
    outcome(&panel, p, &csrf, result, "role").await
}

/// `POST /members/{id}/remove`.
pub async fn remove(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let result =
        tokio::task::spawn_blocking(move || identity.remove_member(&pp, &ctx, &UserId(id)))
            .await
            .map_err(HttpError::internal)?;
    outcome(&panel, p, &csrf, result, "removed").await
}
