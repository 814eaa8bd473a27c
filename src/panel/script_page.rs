//! One script's page: every version with its content and digest, and a form that runs a
//! version on one agent or on every agent with a tag (`script` + `script_version` through
//! the same pipeline as any command).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::command_list::landing;
use super::command_view::{blocking, new_request_id, parse_timeout, refusal, Refusal};
use super::fleet_view::{self, blocking as fleet_blocking};
use super::scripts::script_context;
use super::{nav, page, Panel};
use crate::commands::{NewCommand, Target};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The run form, also what is shown again next to a refusal.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RunForm {
    version: String,
    agent: String,
    tag: String,
    timeout_s: String,
    request_id: String,
}

impl RunForm {
    /// The target and request this form makes for script `name`.
    fn request(&self, name: &str) -> Result<(Target, NewCommand), Refusal> {
        let target = match (self.agent.trim(), self.tag.trim()) {
            ("", "") => return Err(Refusal::bad_input("Choose an agent or give a tag.")),
            (agent, "") => Target::Agent(agent.to_string()),
            ("", tag) => Target::Tag(tag.to_string()),
            _ => {
                return Err(Refusal::bad_input(
                    "Choose an agent or give a tag, not both.",
                ))
            }
        };
        let script_version = match self.version.trim() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| Refusal::bad_input("Version: not a version."))?,
            ),
        };
        let req = NewCommand {
            script: Some(name.to_string()),
            script_version,
            request_id: self.request_id.clone(),
            timeout_s: parse_timeout(&self.timeout_s)?,
            ..NewCommand::default()
        };
        Ok((target, req))
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    name: String,
    csrf: &str,
    (notice, mut error): (&str, String),
    form: &RunForm,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let versions = match blocking(panel, move |c| c.script_versions(&pp, &name)).await? {
        Ok(rows) => rows,
        Err(e) => {
            let r = refusal(e)?;
            return Err(HttpError::new(r.status, "forbidden", r.message));
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
    let title = versions.first().map(|s| s.name.clone()).unwrap_or_default();
    let newest = versions.first().map(script_context);
    let runnable: Vec<u32> = versions
        .iter()
        .filter(|s| !s.retired)
        .map(|s| s.version)
        .collect();
    Ok(page(
        panel,
        "script.html",
        minijinja::context! {
            title,
            me => nav(panel, &p, "scripts").await, csrf, notice, error, newest,
            versions => versions.iter().map(script_context).collect::<Vec<_>>(),
            runnable => runnable.iter().map(|v| minijinja::context! {
                version => v, selected => form.version == v.to_string(),
            }).collect::<Vec<_>>(),
            agents => agents.iter()
                .filter(|a| a.status == crate::fleet::AgentStatus::Active)
                .map(|a| minijinja::context! {
                    id => &a.id.0, name => &a.name, selected => a.id.0 == form.agent,
                }).collect::<Vec<_>>(),
            form => minijinja::context! { tag => &form.tag, timeout_s => &form.timeout_s },
            can_operate => allows(p.role(), Action::Operate),
            request_id => new_request_id(),
        },
        status,
    ))
}

/// `GET /scripts/{name}`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(name): Path<String>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("approved") => "Approved as the script's newest version.",
        _ => "",
    };
    let form = RunForm::default();
    let messages = (notice, String::new());
    render(&panel, p, name, &csrf, messages, &form, StatusCode::OK).await
}

/// `POST /scripts/{name}/run`.
pub async fn run(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<RunForm>,
) -> Result<Response, HttpError> {
    let refused = match form.request(&name) {
        Ok((target, req)) => {
            let ctx = p.request_context(request_id, peer);
            let pp = p.clone();
            match blocking(&panel, move |c| c.submit(&pp, &ctx, target, req)).await? {
                Ok(s) => return Ok(Redirect::to(&landing(&s)).into_response()),
                Err(e) => refusal(e)?,
            }
        }
        Err(r) => r,
    };
    let messages = ("", refused.message.clone());
    let res = render(&panel, p, name, &csrf, messages, &form, refused.status).await?;
    Ok(refused.finish(res))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(agent: &str, tag: &str, version: &str) -> RunForm {
        RunForm {
            version: version.into(),
            agent: agent.into(),
            tag: tag.into(),
            timeout_s: String::new(),
            request_id: "r1".into(),
        }
    }

    #[test]
    fn a_run_names_exactly_one_target_and_the_script_version() {
        let (t, req) = form("agt_x", "", "2").request("backup").ok().unwrap();
        assert!(matches!(t, Target::Agent(a) if a == "agt_x"));
        assert_eq!(req.script.as_deref(), Some("backup"));
        assert_eq!(req.script_version, Some(2));
        assert!(req.command.is_none());
        let (t, req) = form("", "web", "").request("backup").ok().unwrap();
        assert!(matches!(t, Target::Tag(tag) if tag == "web"));
        assert_eq!(req.script_version, None, "empty: the newest");
        for (agent, tag) in [("", ""), ("agt_x", "web")] {
            let r = form(agent, tag, "").request("backup").err().unwrap();
            assert_eq!(r.status, StatusCode::BAD_REQUEST);
        }
    }
}
