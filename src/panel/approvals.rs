//! The approvals page: the team's commands waiting for an owner or admin, with their risk,
//! the engine's indicators, why they wait and how long they still may; Approve (after a
//! password confirmation from the last 5 minutes) and Deny for owners and admins other than
//! the requester. The pipeline decides who may; a refusal is shown on the page it came from.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::command_page::{self, Messages};
use super::command_view::{blocking, clip, refusal, when_ms, Refusal};
use super::stages::engine_hits;
use super::{nav, page, Panel};
use crate::commands::{CommandRow, Verdict};
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

/// "12 min 5 s" from milliseconds.
fn time_left(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, s) => format!("{m} min {s} s"),
    }
}

fn approval_context(row: &CommandRow, p: &Principal, now_ms: i64) -> minijinja::Value {
    let (hard_block, indicators) = engine_hits(&row.decision);
    let (reason, expires_ms) = row.approval.as_ref().map_or((String::new(), now_ms), |a| {
        (a.reason.clone(), a.expires_ms)
    });
    minijinja::context! {
        id => &row.id, command => clip(&row.command), agent => &row.agent.0,
        agent_name => &row.agent_name, requester => &row.requester_email,
        created => when_ms(row.created_ms), risk_score => row.risk_score, level => &row.level,
        hard_block, indicators, reason,
        expires => when_ms(expires_ms), left => time_left(expires_ms - now_ms),
        own => row.requested_by == *p.user(),
        script => row.script.as_ref().map(|s| format!("{}@{}", s.name, s.version)),
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    notice: &str,
    mut error: String,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let rows = match blocking(panel, move |c| c.approvals(&pp)).await? {
        Ok(rows) => rows,
        Err(e) => {
            error = refusal(e)?.message;
            Vec::new()
        }
    };
    let now = panel.clock.now();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let approvals: Vec<_> = rows
        .iter()
        .map(|r| approval_context(r, &p, now_ms))
        .collect();
    Ok(page(
        panel,
        "approvals.html",
        minijinja::context! {
            title => "Approvals", me => nav(panel, &p, "approvals").await, csrf, notice, error,
            approvals,
            can_approve => allows(p.role(), Action::Approve),
            reauthenticated => p.reauthenticated(now.unix_timestamp()),
        },
        status,
    ))
}

/// `GET /approvals`.
pub async fn list(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = done_message(done.done.as_deref());
    render(&panel, p, &csrf, notice, String::new(), StatusCode::OK).await
}

/// The approve and deny forms: `from=command` when sent from the command's own page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DecideForm {
    from: String,
}

async fn decide(
    panel: Arc<Panel>,
    p: Principal,
    id: String,
    (request_id, peer): (String, SocketAddr),
    csrf: String,
    form: DecideForm,
    verdict: Verdict,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, wanted) = (p.clone(), id.clone());
    let decided = blocking(&panel, move |c| c.decide(&pp, &ctx, &wanted, verdict)).await?;
    let from_command = form.from == "command";
    let done = match verdict {
        Verdict::Approve => "approved",
        Verdict::Deny => "denied",
    };
    let r: Refusal = match decided {
        Ok(row) if from_command => {
            return Ok(Redirect::to(&format!("/commands/{}?done={done}", row.id)).into_response())
        }
        Ok(_) => return Ok(Redirect::to(&format!("/approvals?done={done}")).into_response()),
        Err(e) => refusal(e)?,
    };
    let res = if from_command {
        let messages = Messages {
            error: &r.message,
            ..Messages::default()
        };
        let at = (request_id, peer);
        command_page::render(&panel, p, &id, at, &csrf, messages, r.status).await?
    } else {
        render(&panel, p, &csrf, "", r.message.clone(), r.status).await?
    };
    Ok(r.finish(res))
}

/// `POST /approvals/{id}/approve`.
pub async fn approve(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<DecideForm>,
) -> Result<Response, HttpError> {
    let at = (request_id, peer);
    decide(panel, p, id, at, csrf, form, Verdict::Approve).await
}

/// `POST /approvals/{id}/deny`.
pub async fn deny(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<DecideForm>,
) -> Result<Response, HttpError> {
    let at = (request_id, peer);
    decide(panel, p, id, at, csrf, form, Verdict::Deny).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_in_minutes_and_seconds_and_never_goes_negative() {
        assert_eq!(time_left(14 * 60_000 + 5_999), "14 min 5 s");
        assert_eq!(time_left(42_000), "42 s");
        assert_eq!(time_left(-5), "0 s");
    }
}
