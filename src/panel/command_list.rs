//! The commands page: the team's command history, newest first, filtered by agent, status or
//! one request by tag, a page at a time; and the "run on every agent with a tag" form, which
//! lands on the one command's page, or on the history of the new batch.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::command_view::{blocking, new_request_id, refusal, row_context, Refusal, RunFields};
use super::fleet_view::{self, blocking as fleet_blocking};
use super::{nav, page, Panel};
use crate::commands::{CommandStatus, HistoryFilter, Submitted, Target};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// Commands one page of the history shows.
const PAGE: usize = 50;

/// `?agent=&status=&batch=&after=` of the history.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ListQuery {
    agent: String,
    status: String,
    batch: String,
    after: String,
}

impl ListQuery {
    /// The query string of this view continued after `cursor` (the template writes the
    /// path itself, so no escaped slash lands in a link).
    fn continued(&self, cursor: &str) -> String {
        let pairs = [
            ("agent", self.agent.as_str()),
            ("status", self.status.as_str()),
            ("batch", self.batch.as_str()),
            ("after", cursor),
        ];
        let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }
}

/// The run-by-tag form, also what is shown again next to a refusal.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct TagForm {
    tag: String,
    command: String,
    timeout_s: String,
    request_id: String,
}

impl TagForm {
    fn run(&self) -> RunFields {
        RunFields {
            command: self.command.clone(),
            timeout_s: self.timeout_s.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Renders the history for `query` with the tag form as typed.
async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    query: ListQuery,
    form: &TagForm,
    mut error: String,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let wanted = match non_empty(&query.status) {
        None => Ok(None),
        Some(s) => CommandStatus::parse(&s).map(Some).ok_or(s),
    };
    let filter_status = match wanted {
        Ok(s) => s,
        Err(s) => {
            let all: Vec<&str> = CommandStatus::ALL.iter().map(|s| s.as_str()).collect();
            error = format!("Status {s:?} is not one of {}.", all.join(", "));
            None
        }
    };
    let filter = HistoryFilter {
        agent: non_empty(&query.agent),
        status: filter_status,
        batch: non_empty(&query.batch),
        after: non_empty(&query.after),
        limit: Some(PAGE),
    };
    let pp = p.clone();
    let (rows, next) = match blocking(panel, move |c| c.history(&pp, &filter)).await? {
        Ok(h) => (h.commands, h.next),
        Err(e) => {
            error = refusal(e)?.message;
            (Vec::new(), None)
        }
    };
    let pp = p.clone();
    let agents = match fleet_blocking(panel, move |f| f.agents(&pp)).await? {
        Ok(agents) => agents,
        Err(e) => {
            error = fleet_view::message(e)?.1;
            Vec::new()
        }
    };
    let commands: Vec<_> = rows
        .iter()
        .map(|r| row_context(r, &panel.commands))
        .collect();
    let filtered = !(query.agent.is_empty() && query.status.is_empty() && query.batch.is_empty());
    Ok(page(
        panel,
        "commands.html",
        minijinja::context! {
            title => "Commands", me => nav(panel, &p, "commands").await, csrf, error,
            commands, filtered,
            older => next.map(|n| query.continued(&n)),
            newest => (!query.after.is_empty()).then(|| query.continued("")),
            agents => agents.iter().map(|a| minijinja::context! {
                id => &a.id.0, name => &a.name, selected => a.id.0 == query.agent,
            }).collect::<Vec<_>>(),
            statuses => CommandStatus::ALL.iter().map(|s| minijinja::context! {
                name => s.as_str(), selected => s.as_str() == query.status,
            }).collect::<Vec<_>>(),
            batch => &query.batch,
            can_operate => allows(p.role(), Action::Operate),
            form => minijinja::context! {
                tag => &form.tag, command => &form.command, timeout_s => &form.timeout_s,
            },
            request_id => new_request_id(),
        },
        status,
    ))
}

/// `GET /commands`.
pub async fn list(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(query): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let form = TagForm::default();
    render(
        &panel,
        p,
        &csrf,
        query,
        &form,
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /commands`: one command per active agent of the team carrying the tag.
pub async fn run_by_tag(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<TagForm>,
) -> Result<Response, HttpError> {
    let req = match form.run().new_command() {
        Ok(req) => req,
        Err(r) => return refused(&panel, p, &csrf, &form, r).await,
    };
    let ctx = p.request_context(request_id, peer);
    let (pp, tag) = (p.clone(), form.tag.clone());
    let submitted = blocking(&panel, move |c| c.submit(&pp, &ctx, Target::Tag(tag), req)).await?;
    match submitted {
        Ok(s) => Ok(Redirect::to(&landing(&s)).into_response()),
        Err(e) => {
            let r = refusal(e)?;
            refused(&panel, p, &csrf, &form, r).await
        }
    }
}

/// Where a request by tag lands: the one command it made, or the history of its batch.
pub fn landing(submitted: &[Submitted]) -> String {
    match submitted {
        [one] => format!("/commands/{}", one.row.id),
        more => match more.iter().find_map(|s| s.row.batch.as_deref()) {
            Some(batch) => {
                let query = ListQuery {
                    batch: batch.to_string(),
                    ..ListQuery::default()
                };
                format!("/commands?{}", query.continued(""))
            }
            None => "/commands".to_string(),
        },
    }
}

async fn refused(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    form: &TagForm,
    r: Refusal,
) -> Result<Response, HttpError> {
    let res = render(
        panel,
        p,
        csrf,
        ListQuery::default(),
        form,
        r.message.clone(),
        r.status,
    )
    .await?;
    Ok(r.finish(res))
}
