//! The audit log page: the team's records newest first, filtered by actor, action, target and
//! time, paged by a cursor; the chain status (verified with the audit key on each look, only
//! what is new since the last); the latest published head with "publish now" for owners and
//! admins; and downloads of the export, the key and a head signed now, for offline checks
//! with `tundra audit verify --team`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde::Deserialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{nav, page, Panel};
use crate::audit::{ChainStatus, Record};
use crate::identity::{AuditQuery, Identity, IdentityError, Principal};
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// Records per page.
const PAGE: usize = 50;
/// Export lines read from the store per chunk of the download.
const EXPORT_CHUNK: usize = 2_000;

/// What a `datetime-local` input sends.
const LOCAL: &[FormatItem<'_>] = format_description!("[year]-[month]-[day]T[hour]:[minute]");

/// `?actor=&action=&target=&from=&to=&before=&done=`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    actor: String,
    action: String,
    target: String,
    from: String,
    to: String,
    before: Option<u64>,
    done: Option<String>,
}

fn parse_time(field: &str, value: &str) -> Result<Option<OffsetDateTime>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    PrimitiveDateTime::parse(v, LOCAL)
        .map(|t| Some(t.assume_utc()))
        .map_err(|_| format!("{field}: {v:?} is not a date and time like 2026-12-01T09:30 (UTC)"))
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn record_context(position: u64, r: &Record) -> minijinja::Value {
    let detail = match &r.detail {
        serde_json::Value::Null => String::new(),
        d => serde_json::to_string_pretty(d).unwrap_or_default(),
    };
    minijinja::context! {
        position, seq => r.seq, ts => &r.ts, actor => r.actor.to_string(), action => &r.action,
        target => &r.target, source_ip => &r.source_ip, request_id => &r.request_id,
        command => &r.command, detail, hash => &r.hash,
        policy => r.policy_result.as_ref().map(|p| serde_json::to_string_pretty(p).unwrap_or_default()),
    }
}

fn status_context(s: &ChainStatus) -> minijinja::Value {
    match s {
        ChainStatus::Empty => minijinja::context! { state => "empty" },
        ChainStatus::Verified {
            from,
            through,
            through_seq,
        } => minijinja::context! { state => "verified", from, through, through_seq },
        ChainStatus::Broken { seq, reason } => {
            minijinja::context! { state => "broken", seq, reason }
        }
    }
}

async fn identity<T: Send + 'static>(
    panel: &Panel,
    f: impl FnOnce(&Identity) -> Result<T, IdentityError> + Send + 'static,
) -> Result<Result<T, IdentityError>, HttpError> {
    let identity = Arc::clone(&panel.identity);
    tokio::task::spawn_blocking(move || f(&identity))
        .await
        .map_err(HttpError::internal)
}

/// A refusal as the error page (the role table or missing two-factor), or a failure.
fn refused(e: IdentityError) -> HttpError {
    match e {
        IdentityError::Forbidden => HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role does not allow that.",
        ),
        IdentityError::TwoFactorRequired => {
            HttpError::new(StatusCode::FORBIDDEN, "two_factor_required", e.to_string())
        }
        other => HttpError::internal(other),
    }
}

/// `GET /audit`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(f): Query<Filters>,
) -> Result<Response, HttpError> {
    let mut error = String::new();
    let mut status = StatusCode::OK;
    let (from, to) = match (parse_time("From", &f.from), parse_time("To", &f.to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            error = e;
            status = StatusCode::BAD_REQUEST;
            (None, None)
        }
    };
    let query = AuditQuery {
        actor: non_empty(&f.actor),
        action: non_empty(&f.action),
        target: non_empty(&f.target),
        from,
        to,
        before: f.before,
        limit: PAGE,
    };
    let pp = p.clone();
    let bad_filter = status != StatusCode::OK;
    let looked = identity(&panel, move |i| {
        let chain = i.audit_chain_status(&pp)?;
        let published = i.audit_published_head(&pp)?;
        let page = if bad_filter {
            None
        } else {
            Some(i.audit_search(&pp, &query)?)
        };
        Ok((chain, published, page))
    })
    .await?;
    let (chain, published, found) = match looked {
        Ok(v) => v,
        Err(e) => return Err(refused(e)),
    };
    let (records, next_before) = match found {
        Some(pg) => (
            pg.records
                .iter()
                .map(|(pos, r)| record_context(*pos, r))
                .collect::<Vec<_>>(),
            pg.next_before,
        ),
        None => (Vec::new(), None),
    };
    let next_link = next_before.map(|before| {
        let q = serde_urlencoded::to_string([
            ("actor", f.actor.as_str()),
            ("action", f.action.as_str()),
            ("target", f.target.as_str()),
            ("from", f.from.as_str()),
            ("to", f.to.as_str()),
            ("before", &before.to_string()),
        ])
        .unwrap_or_default();
        format!("/audit?{q}")
    });
    let notice = match f.done.as_deref() {
        Some("published") => "The team's head was published: it is in the log below and on its way to the team's webhooks.",
        _ => "",
    };
    let published = published.map(|ph| {
        minijinja::context! {
            team_seq => ph.head.team_seq, hash => &ph.head.hash, ts => &ph.head.ts,
            scheduled => ph.scheduled, record_position => ph.record_position(),
            json => serde_json::to_string(&ph.head).unwrap_or_default(),
        }
    });
    Ok(page(
        &panel,
        "audit.html",
        minijinja::context! {
            title => "Audit log", me => nav(&panel, &p, "audit").await, csrf, notice, error,
            chain => status_context(&chain), published, records, next_link,
            paged => f.before.is_some(),
            filters => minijinja::context! {
                actor => &f.actor, action => &f.action, target => &f.target, from => &f.from, to => &f.to,
            },
            can_publish => allows(p.role(), Action::ManageFleet),
            team => &p.team().0,
        },
        status,
    ))
}

/// `POST /audit/head`: publish the team's head now.
pub async fn publish(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    match identity(&panel, move |i| i.audit_publish_head(&pp, &ctx)).await? {
        Ok(_) => Ok(Redirect::to("/audit?done=published").into_response()),
        Err(e) => Err(refused(e)),
    }
}

fn download(content_type: &'static str, filename: String, body: Body) -> Response {
    (
        [
            (CONTENT_TYPE, content_type.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /audit/export.jsonl`: the team's whole stored chain, streamed in chunks.
pub async fn export(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
) -> Result<Response, HttpError> {
    // The first chunk is read before answering, so a refusal is a proper error page.
    let pp = p.clone();
    let first = match identity(&panel, move |i| i.audit_export(&pp, 0, EXPORT_CHUNK)).await? {
        Ok(lines) => lines,
        Err(e) => return Err(refused(e)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(2);
    let identity_service = Arc::clone(&panel.identity);
    tokio::task::spawn_blocking(move || {
        let mut chunk = first;
        loop {
            let Some(&(last, _)) = chunk.last() else {
                return;
            };
            let done = chunk.len() < EXPORT_CHUNK;
            let text: String = chunk.iter().map(|(_, l)| format!("{l}\n")).collect();
            if tx.blocking_send(Ok(text)).is_err() || done {
                return;
            }
            chunk = match identity_service.audit_export(&p, last, EXPORT_CHUNK) {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(download(
        "application/x-ndjson",
        "tundra-audit-team.jsonl".into(),
        body,
    ))
}

/// `GET /audit/pubkey`: the audit public key as a file.
pub async fn pubkey(State(panel): State<Arc<Panel>>, Authed(_p): Authed<Principal>) -> Response {
    let hex = panel.identity.audit_public_key().to_hex();
    download(
        "text/plain; charset=utf-8",
        "tundra-audit.pub".into(),
        Body::from(format!("{hex}\n")),
    )
}

/// `GET /audit/head.json`: the team's head signed now, as a file to keep.
pub async fn head(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    match identity(&panel, move |i| i.audit_team_head(&pp)).await? {
        Ok(h) => Ok(download(
            "application/json",
            format!("tundra-audit-head-{}.json", h.team_seq),
            Body::from(serde_json::to_string(&h).unwrap_or_default() + "\n"),
        )),
        Err(e) => Err(refused(e)),
    }
}
