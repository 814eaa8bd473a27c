//! `/api/v1/agents/{id}/commands`, `/api/v1/commands`: run a command (or an approved script)
//! on one agent or on every agent with a tag, read the history, and read one command with
//! its output — waiting for it to change with `?wait_s=`. Thin over `Commands`, which runs
//! the policy pipeline, scopes every lookup to the caller's team and audits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::command_view::{CommandView, Encoding};
use super::errors::commands_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::commands::{wait_change, CommandStatus, HistoryFilter, NewCommand, Submitted, Target};
use crate::identity::Principal;
use crate::web::{Authed, HttpError, RequestId};

/// The longest `?wait_s=`.
const MAX_WAIT_S: u64 = 30;

/// `POST /api/v1/agents/{id}/commands` body: a command or an approved script.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The command text (run with `/bin/sh -c` on the agent); or send `script`.
    command: Option<String>,
    /// The name of a script in the team's approved library.
    script: Option<String>,
    /// Its version (default: the newest).
    script_version: Option<u32>,
    /// Your idempotency key (1–128 of A-Z a-z 0-9 . _ : -): the same key on the same agent
    /// answers the first command and runs nothing again.
    request_id: String,
    /// Seconds it may run (default from the appliance's config, at most 86400).
    timeout_s: Option<u32>,
}

/// `POST /api/v1/commands` body: like `RunBody`, for every active agent with `tag`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunByTagBody {
    /// The tag.
    tag: String,
    /// The command text; or send `script`.
    command: Option<String>,
    /// The name of a script in the team's approved library.
    script: Option<String>,
    /// Its version (default: the newest).
    script_version: Option<u32>,
    /// Your idempotency key (per agent).
    request_id: String,
    /// Seconds it may run.
    timeout_s: Option<u32>,
}

/// The commands one request by tag made.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchView {
    /// The id the commands share.
    batch: Option<String>,
    /// One per agent.
    commands: Vec<CommandView>,
}

/// A page of history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    /// Newest first.
    commands: Vec<CommandView>,
    /// Pass as `?after=` for the next page; null at the end.
    next: Option<String>,
}

/// `?agent=&status=&batch=&after=&limit=` of the history.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this agent's commands.
    agent: Option<String>,
    /// Only commands in this state (`running` lists queued ones).
    status: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// Only the commands of one request by tag (its `batch`).
    batch: Option<String>,
    /// At most this many (default 50, at most 200).
    limit: Option<usize>,
}

/// `?wait_s=&encoding=` of one command.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Wait up to this many seconds (at most 30) for the command to change if it is not
    /// final yet.
    wait_s: Option<u64>,
    /// `text` (default: UTF-8, invalid bytes replaced) or `base64` (exact bytes).
    encoding: Option<String>,
}

fn new_command(
    command: Option<String>,
    script: Option<String>,
    script_version: Option<u32>,
    request_id: String,
    timeout_s: Option<u32>,
) -> NewCommand {
    NewCommand {
        command,
        script,
        script_version,
        request_id,
        timeout_s,
    }
}

/// 202 when something new was made, 200 when the request repeats an earlier one.
fn status_of(submitted: &[Submitted]) -> StatusCode {
    if submitted.iter().all(|s| s.replayed) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

/// `POST /api/v1/agents/{id}/commands`.
#[utoipa::path(post, path = "/api/v1/agents/{id}/commands", operation_id = "run_command", tag = "commands", params(("id" = String, Path, description = "Agent id (agt_…)")), request_body = RunBody, responses((status = 202, description = "Judged: `queued`, `pending_approval` or `blocked` (with the rule)", body = CommandView), (status = 200, description = "The same request_id was sent before: its command as it is now", body = CommandView), (status = 400, description = "Bad request (names the field)", body = crate::api::ErrorBody), (status = 404, description = "No such agent in your team", body = crate::api::ErrorBody), (status = 409, description = "request_id used for another command, or the agent is deactivated", body = crate::api::ErrorBody), (status = 429, description = "Rate limit (Retry-After says when)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn run(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RunBody>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let req = new_command(
        body.command,
        body.script,
        body.script_version,
        body.request_id,
        body.timeout_s,
    );
    let submitted = commands_blocking(&api, move |c| {
        c.submit(&principal, &ctx, Target::Agent(id), req)
    })
    .await?;
    let status = status_of(&submitted);
    let view = submitted
        .into_iter()
        .next()
        .map(|s| CommandView::new(s.row, &api.commands))
        .ok_or_else(|| HttpError::internal("no command submitted"))?;
    Ok((status, Json(view)).into_response())
}

/// `POST /api/v1/commands`: one command per active agent carrying `tag`.
#[utoipa::path(post, path = "/api/v1/commands", operation_id = "run_command_by_tag", tag = "commands", request_body = RunByTagBody, responses((status = 202, description = "One command per agent, each judged on its own", body = BatchView), (status = 200, description = "The same request_id was sent before", body = BatchView), (status = 400, description = "Bad request, or no agent carries the tag", body = crate::api::ErrorBody), (status = 409, description = "request_id used for another command", body = crate::api::ErrorBody), (status = 429, description = "Rate limit (Retry-After says when)", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn run_by_tag(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<RunByTagBody>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let req = new_command(
        body.command,
        body.script,
        body.script_version,
        body.request_id,
        body.timeout_s,
    );
    let tag = body.tag;
    let submitted = commands_blocking(&api, move |c| {
        c.submit(&principal, &ctx, Target::Tag(tag), req)
    })
    .await?;
    let status = status_of(&submitted);
    let batch = submitted.iter().find_map(|s| s.row.batch.clone());
    let commands = submitted
        .into_iter()
        .map(|s| CommandView::new(s.row, &api.commands))
        .collect();
    Ok((status, Json(BatchView { batch, commands })).into_response())
}

/// `GET /api/v1/commands`: the team's command history, newest first (every role).
#[utoipa::path(get, path = "/api/v1/commands", operation_id = "list_commands", tag = "commands", params(HistoryQuery), responses((status = 200, description = "A page of history", body = HistoryView), (status = 400, description = "Unknown status", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryView>, HttpError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(CommandStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = CommandStatus::ALL.iter().map(|s| s.as_str()).collect();
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("status: must be one of running, {}", all.join(", ")),
            )
        })?),
    };
    let filter = HistoryFilter {
        agent: q.agent,
        status,
        after: q.after,
        batch: q.batch,
        limit: q.limit,
    };
    let page = commands_blocking(&api, move |c| c.history(&principal, &filter)).await?;
    let commands = page
        .commands
        .into_iter()
        .map(|r| CommandView::new(r, &api.commands))
        .collect();
    Ok(Json(HistoryView {
        commands,
        next: page.next,
    }))
}

/// `GET /api/v1/commands/{id}`: status, exit code and output; another team's command is
/// 404 (and audited).
#[utoipa::path(get, path = "/api/v1/commands/{id}", operation_id = "get_command", tag = "commands", params(("id" = String, Path, description = "Command id (cmd_…)"), GetQuery), responses((status = 200, description = "The command with its output", body = CommandView), (status = 400, description = "Bad encoding", body = crate::api::ErrorBody), (status = 404, description = "No such command in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn get(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> Result<Json<CommandView>, HttpError> {
    let encoding = match q.encoding.as_deref() {
        None | Some("text") => Encoding::Text,
        Some("base64") => Encoding::Base64,
        Some(_) => {
            return Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "encoding: must be text or base64",
            ))
        }
    };
    let wait = Duration::from_secs(q.wait_s.unwrap_or(0).min(MAX_WAIT_S));
    let deadline = tokio::time::Instant::now() + wait;
    let ctx = principal.request_context(request_id, peer);
    loop {
        // Subscribe before reading, so a change right after the read still ends the wait.
        let changes = api.commands.subscribe();
        let (p, c, i) = (principal.clone(), ctx.clone(), id.clone());
        let (row, out, err) =
            commands_blocking(&api, move |s| s.get_with_output(&p, &c, &i)).await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if row.status.is_final() || left.is_zero() {
            let view = CommandView::new(row, &api.commands).with_output(&out, &err, encoding);
            return Ok(Json(view));
        }
        wait_change(changes, &row.id, left).await;
    }
}
