//! Commands on one agent's page: its last commands, and the run form's `POST
//! /agents/{id}/commands`, which sends the command through the pipeline and lands on the
//! command's page. A refusal (bad input, rate limit, deactivated agent) shows the agent's
//! page again with the reason and the typed command.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use super::agents::{render_detail, Extras};
use super::command_view::{blocking, refusal, row_context, Refusal, RunFields};
use super::Panel;
use crate::commands::{CommandError, HistoryFilter, Target};
use crate::fleet::MetricsRange;
use crate::identity::Principal;
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// Commands the agent page lists.
const RECENT: usize = 10;

/// The agent's last commands as list rows (none while the member must enroll two-factor).
pub async fn recent(
    panel: &Arc<Panel>,
    p: &Principal,
    agent: &str,
) -> Result<Vec<minijinja::Value>, HttpError> {
    let filter = HistoryFilter {
        agent: Some(agent.to_string()),
        limit: Some(RECENT),
        ..HistoryFilter::default()
    };
    let pp = p.clone();
    match blocking(panel, move |c| c.history(&pp, &filter)).await? {
        Ok(page) => Ok(page
            .commands
            .iter()
            .map(|r| row_context(r, &panel.commands))
            .collect()),
        Err(CommandError::Identity(_)) => Ok(Vec::new()),
        Err(e) => Err(HttpError::internal(e)),
    }
}

/// `POST /agents/{id}/commands`.
pub async fn run(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<RunFields>,
) -> Result<Response, HttpError> {
    let at = (request_id.clone(), peer);
    let req = match form.new_command() {
        Ok(req) => req,
        Err(r) => return refused(&panel, p, &id, at, &csrf, r, &form).await,
    };
    let ctx = p.request_context(request_id, peer);
    let (pp, agent) = (p.clone(), id.clone());
    let submitted = blocking(&panel, move |c| {
        c.submit(&pp, &ctx, Target::Agent(agent), req)
    })
    .await?;
    match submitted.map(|s| s.into_iter().next()) {
        Ok(Some(s)) => Ok(Redirect::to(&format!("/commands/{}", s.row.id)).into_response()),
        Ok(None) => Err(HttpError::internal("no command submitted")),
        Err(e) => {
            let r = refusal(e)?;
            refused(&panel, p, &id, at, &csrf, r, &form).await
        }
    }
}

/// The agent's page again with the refusal and the typed form.
async fn refused(
    panel: &Arc<Panel>,
    p: Principal,
    id: &str,
    at: (String, SocketAddr),
    csrf: &str,
    r: Refusal,
    form: &RunFields,
) -> Result<Response, HttpError> {
    let extras = Extras {
        error: &r.message,
        run: Some(form),
        ..Extras::default()
    };
    let res = render_detail(panel, p, id, at, csrf, MetricsRange::Hour, extras, r.status).await?;
    Ok(r.finish(res))
}
