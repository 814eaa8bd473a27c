//! What admins do to one agent from its page: replace its tags, deactivate it, delete it
//! (after a password confirmation). The fleet service checks the role, scopes the agent to
//! the caller's team and audits; a refusal shows the agent's page again with the reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::agents::{render_detail, Extras};
use super::fleet_view::{blocking, message, split_list};
use super::Panel;
use crate::fleet::{FleetError, MetricsRange};
use crate::identity::Principal;
use crate::model::AgentId;
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// The tags form.
#[derive(Deserialize)]
pub struct TagsForm {
    tags: String,
}

/// Where to go after an action on agent `id` (only well-formed ids reach here).
fn back_to(id: &str, done: &str) -> Response {
    if AgentId::is_well_formed(id) {
        Redirect::to(&format!("/agents/{id}?done={done}")).into_response()
    } else {
        HttpError::not_found().into_response()
    }
}

/// The agent's page again, saying why the action was refused (and keeping typed tags).
async fn refused(
    panel: &Arc<Panel>,
    p: Principal,
    id: &str,
    at: (String, SocketAddr),
    csrf: &str,
    e: FleetError,
    tags: Option<&str>,
) -> Result<Response, HttpError> {
    let (status, m) = message(e)?;
    let extras = Extras {
        error: &m,
        tags,
        ..Extras::default()
    };
    render_detail(panel, p, id, at, csrf, MetricsRange::Hour, extras, status).await
}

/// `POST /agents/{id}/tags`.
pub async fn tags(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<TagsForm>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, agent, tags) = (p.clone(), id.clone(), split_list(&form.tags));
    match blocking(&panel, move |f| f.set_tags(&pp, &ctx, &agent, tags)).await? {
        Ok(_) => Ok(back_to(&id, "tags")),
        Err(e) => {
            refused(
                &panel,
                p,
                &id,
                (request_id, peer),
                &csrf,
                e,
                Some(&form.tags),
            )
            .await
        }
    }
}

/// `POST /agents/{id}/deactivate`.
pub async fn deactivate(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, agent) = (p.clone(), id.clone());
    match blocking(&panel, move |f| f.deactivate(&pp, &ctx, &agent)).await? {
        Ok(_) => Ok(back_to(&id, "deactivated")),
        Err(e) => refused(&panel, p, &id, (request_id, peer), &csrf, e, None).await,
    }
}

/// `POST /agents/{id}/delete`: needs a password confirmation from the last 5 minutes.
pub async fn delete(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, agent) = (p.clone(), id.clone());
    match blocking(&panel, move |f| f.delete(&pp, &ctx, &agent)).await? {
        Ok(()) => Ok(Redirect::to("/agents?done=deleted").into_response()),
        Err(e) => refused(&panel, p, &id, (request_id, peer), &csrf, e, None).await,
    }
}
