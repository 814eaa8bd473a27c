//! The script library page: the newest version of each of the team's approved scripts;
//! owners and admins approve a script or a new version of one (the engine's hard blocks
//! still refuse its content) and retire scripts behind a confirmation step.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::command_view::{blocking, refusal, when_ms};
use super::{nav, page, Panel};
use crate::commands::{NewScript, ScriptRow};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// Hex characters of a SHA-256 the list shows.
const SHORT_SHA: usize = 12;

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The approve form, also what is shown again next to a refusal.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ApproveForm {
    name: String,
    description: String,
    content: String,
}

/// One script version as the templates see it.
pub fn script_context(s: &ScriptRow) -> minijinja::Value {
    minijinja::context! {
        name => &s.name, version => s.version, description => &s.description,
        content => &s.content, sha256 => &s.sha256,
        short_sha => s.sha256.chars().take(SHORT_SHA).collect::<String>(),
        approved_by => &s.approved_by, approved => when_ms(s.approved_ms),
        risk_score => s.risk_score, retired => s.retired,
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    (notice, mut error): (&str, String),
    form: &ApproveForm,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let scripts = match blocking(panel, move |c| c.scripts(&pp)).await? {
        Ok(rows) => rows.iter().map(script_context).collect(),
        Err(e) => {
            error = refusal(e)?.message;
            Vec::new()
        }
    };
    Ok(page(
        panel,
        "scripts.html",
        minijinja::context! {
            title => "Scripts", me => nav(panel, &p, "scripts").await, csrf, notice, error,
            scripts, can_approve => allows(p.role(), Action::Approve),
            form => minijinja::context! {
                name => &form.name, description => &form.description, content => &form.content,
            },
        },
        status,
    ))
}

/// `GET /scripts`.
pub async fn list(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("retired") => "The script was retired: none of its versions can run any more.",
        _ => "",
    };
    let form = ApproveForm::default();
    let messages = (notice, String::new());
    render(&panel, p, &csrf, messages, &form, StatusCode::OK).await
}

/// `POST /scripts`: approves a script as its next version.
pub async fn approve(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<ApproveForm>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let new = NewScript {
        name: form.name.trim().to_string(),
        description: form.description.clone(),
        content: form.content.clone(),
    };
    let pp = p.clone();
    match blocking(&panel, move |c| c.approve_script(&pp, &ctx, new)).await? {
        Ok(row) => {
            let to = format!("/scripts/{}?done=approved", row.name);
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let r = refusal(e)?;
            let res = render(&panel, p, &csrf, ("", r.message.clone()), &form, r.status).await?;
            Ok(r.finish(res))
        }
    }
}

/// `POST /scripts/{name}/retire`.
pub async fn retire(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    match blocking(&panel, move |c| c.retire_script(&pp, &ctx, &name)).await? {
        Ok(()) => Ok(Redirect::to("/scripts?done=retired").into_response()),
        Err(e) => {
            let r = refusal(e)?;
            let form = ApproveForm::default();
            let res = render(&panel, p, &csrf, ("", r.message.clone()), &form, r.status).await?;
            Ok(r.finish(res))
        }
    }
}
