//! One command's page: what was asked, every pipeline stage's decision, the approval, the
//! agent's signed result and the output (with a download per stream). While it is not final
//! the page refreshes itself (`assets/commands.js`); owners and admins other than the
//! requester approve or deny a waiting command here (approving after a fresh re-auth).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::command_view::{blocking, refusal, shown_status, when_ms};
use super::stages::{engine_hits, stages};
use super::{nav, page, Panel};
use crate::commands::{CommandRow, CommandStatus, ResultInfo};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn done_message(code: Option<&str>) -> &'static str {
    match code {
        Some("approved") => "Approved: the command is queued for its agent.",
        Some("denied") => "Denied: the command will not run.",
        Some("reauth") => "Password confirmed for the next 5 minutes.",
        _ => "",
    }
}

/// What the page says around the command: a notice or a refusal.
#[derive(Default)]
pub struct Messages<'a> {
    /// A fixed notice.
    pub notice: &'a str,
    /// What went wrong.
    pub error: &'a str,
}

fn result_context(r: &ResultInfo) -> minijinja::Value {
    let ms = r.finished_ms.saturating_sub(r.started_ms).max(0);
    minijinja::context! {
        exit_code => r.exit_code, signal => r.signal,
        started => when_ms(r.started_ms), finished => when_ms(r.finished_ms),
        duration => format!("{}.{:03} s", ms / 1000, ms % 1000),
        truncated => r.truncated, message => &r.message, output_complete => r.output_complete,
        stdout_len => r.stdout_len, stderr_len => r.stderr_len,
        stdout_sha256 => &r.stdout_sha256, stderr_sha256 => &r.stderr_sha256,
        agent_signature => &r.agent_signature,
    }
}

/// Renders command `id`'s page with `status`; a missing command (or another team's) is 404.
pub async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    id: &str,
    (request_id, peer): (String, SocketAddr),
    csrf: &str,
    messages: Messages<'_>,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let (pp, wanted) = (p.clone(), id.to_string());
    let found = blocking(panel, move |c| c.get_with_output(&pp, &ctx, &wanted)).await?;
    let (row, stdout, stderr) = match found {
        Ok(found) => found,
        Err(e) => {
            // Nothing of the command can be shown (two-factor missing): say why on a bare page.
            let r = refusal(e)?;
            return Err(HttpError::new(r.status, "forbidden", r.message));
        }
    };
    let pending = row.status == CommandStatus::PendingApproval;
    let own = row.requested_by == *p.user();
    let (hard_block, indicators) = engine_hits(&row.decision);
    let now = panel.clock.now().unix_timestamp();
    Ok(page(
        panel,
        "command.html",
        minijinja::context! {
            title => format!("Command on {}", row.agent_name),
            me => nav(panel, &p, "commands").await, csrf,
            notice => messages.notice, error => messages.error,
            command => command_context(&row, &panel.commands),
            stages => stages(&row.decision), hard_block, indicators,
            result => row.result.as_ref().map(result_context),
            stdout => String::from_utf8_lossy(&stdout), stderr => String::from_utf8_lossy(&stderr),
            can_decide => pending && !own && allows(p.role(), Action::Approve),
            waiting_for_other => pending && own,
            reauthenticated => p.reauthenticated(now),
        },
        status,
    ))
}

fn command_context(row: &CommandRow, commands: &crate::commands::Commands) -> minijinja::Value {
    minijinja::context! {
        id => &row.id, agent => &row.agent.0, agent_name => &row.agent_name,
        text => &row.command, requester => &row.requester_email,
        created => when_ms(row.created_ms), updated => when_ms(row.updated_ms),
        status => shown_status(row, commands), is_final => row.status.is_final(),
        risk_score => row.risk_score, level => &row.level, timeout_s => row.timeout_s,
        request_id => &row.request_id, batch => &row.batch,
        queue_expires => row.queue_expires_ms.map(when_ms),
        script => row.script.as_ref().map(|s| minijinja::context! {
            name => &s.name, version => s.version, sha256 => &s.sha256,
        }),
        blocked => row.blocked.as_ref().map(|b| minijinja::context! {
            stage => &b.stage, rule => &b.rule, reason => &b.reason,
        }),
        approval => row.approval.as_ref().map(|a| minijinja::context! {
            reason => &a.reason, expires => when_ms(a.expires_ms),
            decided_by => &a.decided_by, decided => a.decided_ms.map(when_ms),
        }),
    }
}

/// `GET /commands/{id}`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let messages = Messages {
        notice: done_message(done.done.as_deref()),
        ..Messages::default()
    };
    let at = (request_id, peer);
    render(&panel, p, &id, at, &csrf, messages, StatusCode::OK).await
}

/// Which output stream a download is.
#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

async fn download(
    panel: Arc<Panel>,
    p: Principal,
    id: String,
    (request_id, peer): (String, SocketAddr),
    stream: Stream,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let found = blocking(&panel, move |c| c.get_with_output(&p, &ctx, &id)).await?;
    let (row, stdout, stderr) = match found {
        Ok(found) => found,
        Err(e) => {
            let r = refusal(e)?;
            return Err(HttpError::new(r.status, "forbidden", r.message));
        }
    };
    let (bytes, name) = match stream {
        Stream::Stdout => (stdout, "stdout"),
        Stream::Stderr => (stderr, "stderr"),
    };
    // The id is checked to be `cmd_` and hex before any lookup, so it is safe in the header.
    let disposition = format!("attachment; filename=\"{}-{name}.txt\"", row.id);
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `GET /commands/{id}/stdout`: the kept stdout as a `text/plain` attachment.
pub async fn stdout(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
) -> Result<Response, HttpError> {
    download(panel, p, id, (request_id, peer), Stream::Stdout).await
}

/// `GET /commands/{id}/stderr`: the kept stderr as a `text/plain` attachment.
pub async fn stderr(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
) -> Result<Response, HttpError> {
    download(panel, p, id, (request_id, peer), Stream::Stderr).await
}
