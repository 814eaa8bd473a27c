//! `/api/v1/audit-log`: the caller's team's audit chain as JSONL (each line a full record with
//! its hashes and signature, so `tundra audit verify --team` checks it offline), the team's
//! signed head (read, or published now), and the public key that verifies both.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use super::errors::blocking;
use super::ApiState;
use crate::audit::{PublishedHead, TeamHead};
use crate::identity::{Principal, MAX_EXPORT_PAGE};
use crate::web::{Authed, HttpError, RequestId};

/// The header naming the position to pass as `?after=` for the next page.
pub const NEXT_AFTER: &str = "x-tundra-next-after";

/// `?after=&limit=` of the export.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Records after this position of the team's chain (default 0: from the start).
    after: Option<u64>,
    /// At most this many lines (default 1000, at most 10000).
    limit: Option<usize>,
}

/// `GET /api/v1/audit-log`: one page of the team's chain as JSON lines, oldest first.
#[utoipa::path(get, path = "/api/v1/audit-log", operation_id = "export_audit_log", tag = "audit", params(ExportQuery), responses((status = 200, description = "JSON lines (application/x-ndjson), one record each with team_seq, team_prev_hash, prev_hash, hash and signature; header X-Tundra-Next-After names the position of the last line (absent when the page is empty)", content_type = "application/x-ndjson", body = String), (status = 400, description = "Bad query", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn export(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, HttpError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_EXPORT_PAGE);
    let lines = blocking(&api, move |i| i.audit_export(&principal, after, limit)).await?;
    let next = lines.last().map(|(position, _)| *position);
    let mut body = String::with_capacity(lines.iter().map(|(_, l)| l.len() + 1).sum());
    for (_, line) in &lines {
        body.push_str(line);
        body.push('\n');
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Some(next) = next {
        headers.insert(NEXT_AFTER, HeaderValue::from(next));
    }
    Ok(response)
}

/// The team's head as last published.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublishedView {
    /// The signed head (team, team_seq, hash, ts, signature).
    #[schema(value_type = Object)]
    head: TeamHead,
    /// The team position of the `audit.head_published` record that carried it.
    record_position: u64,
    /// Whether the schedule (not a person) published it.
    scheduled: bool,
}

impl From<PublishedHead> for PublishedView {
    fn from(p: PublishedHead) -> Self {
        Self {
            record_position: p.record_position(),
            head: p.head,
            scheduled: p.scheduled,
        }
    }
}

/// The team's head now and as last published.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HeadView {
    /// Signed now: save it, and a later export cut off before it fails `--head`.
    #[schema(value_type = Object)]
    head: TeamHead,
    /// The last published head (to webhooks and the panel), if any.
    published: Option<PublishedView>,
}

/// `GET /api/v1/audit-log/head`: the team's chain head, signed now.
#[utoipa::path(get, path = "/api/v1/audit-log/head", operation_id = "audit_head", tag = "audit", responses((status = 200, description = "The head", body = HeadView), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Two-factor required", body = crate::api::ErrorBody)))]
pub async fn head(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<HeadView>, HttpError> {
    let (head, published) = blocking(&api, move |i| {
        Ok((
            i.audit_team_head(&principal)?,
            i.audit_published_head(&principal)?,
        ))
    })
    .await?;
    Ok(Json(HeadView {
        head,
        published: published.map(Into::into),
    }))
}

/// `POST /api/v1/audit-log/head`: publish the team's head now (owners and admins): an
/// `audit.head_published` record, delivered to the team's webhooks like any other.
#[utoipa::path(post, path = "/api/v1/audit-log/head", operation_id = "publish_audit_head", tag = "audit", responses((status = 201, description = "Published", body = PublishedView), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn publish(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<(http::StatusCode, Json<PublishedView>), HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let published = blocking(&api, move |i| i.audit_publish_head(&principal, &ctx)).await?;
    Ok((http::StatusCode::CREATED, Json(published.into())))
}

/// `GET /api/v1/audit-log/pubkey`: the audit public key (64 hex characters and a newline).
#[utoipa::path(get, path = "/api/v1/audit-log/pubkey", operation_id = "audit_pubkey", tag = "audit", responses((status = 200, description = "Hex Ed25519 public key", content_type = "text/plain", body = String), (status = 401, description = "Not signed in", body = crate::api::ErrorBody)))]
pub async fn pubkey(
    State(api): State<Arc<ApiState>>,
    Authed(_principal): Authed<Principal>,
) -> Response {
    let hex = api.identity.audit_public_key().to_hex();
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"tundra-audit.pub\""),
            ),
        ],
        format!("{hex}\n"),
    )
        .into_response()
}
