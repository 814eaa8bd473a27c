//! One webhook's page: its settings and delivery log (every attempt with its status or
//! error), a "send test" button, and "retry" on dead-lettered deliveries.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::webhook_view::{blocking, delivery_context, page_error, refusal, webhook_context};
use super::{nav, page, Panel};
use crate::identity::Principal;
use crate::web::{Authed, CsrfToken, HttpError, RequestId};
use crate::webhooks::is_webhook_id;

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn render(
    panel: &Arc<Panel>,
    (p, peer, request_id): (Principal, SocketAddr, String),
    csrf: &str,
    id: String,
    (notice, error): (&str, String),
    status: StatusCode,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let (w, log) = match blocking(panel, move |s| s.deliveries(&pp, &ctx, &id)).await? {
        Ok(found) => found,
        Err(e) => return Err(page_error(e)),
    };
    let failing = log
        .iter()
        .filter(|d| d.state != crate::webhooks::DeliveryState::Delivered && !d.attempts.is_empty())
        .count();
    Ok(page(
        panel,
        "webhook.html",
        minijinja::context! {
            title => "Webhook", me => nav(panel, &p, "webhooks").await, csrf, notice, error,
            webhook => webhook_context(&w, log.first()), failing,
            deliveries => log.iter().map(delivery_context).collect::<Vec<_>>(),
        },
        status,
    ))
}

/// `GET /webhooks/{id}`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("test") => "A test delivery was queued; reload to see how it went.",
        Some("retried") => "The delivery was queued again with a fresh round of attempts.",
        _ => "",
    };
    let who = (p, peer, request_id);
    render(
        &panel,
        who,
        &csrf,
        id,
        (notice, String::new()),
        StatusCode::OK,
    )
    .await
}

/// Back to the webhook's page with `done` after an action, or the page with the refusal.
async fn finish<T>(
    panel: &Arc<Panel>,
    who: (Principal, SocketAddr, String),
    csrf: &str,
    id: String,
    outcome: Result<T, crate::webhooks::WebhookError>,
    done: &str,
) -> Result<Response, HttpError> {
    match outcome {
        // The id was checked by the lookup, so it is safe in a redirect.
        Ok(_) if is_webhook_id(&id) => {
            Ok(Redirect::to(&format!("/webhooks/{id}?done={done}")).into_response())
        }
        Ok(_) => Err(HttpError::not_found()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            render(panel, who, csrf, id, ("", message), status).await
        }
    }
}

/// `POST /webhooks/{id}/test`.
pub async fn test(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, hook) = (p.clone(), id.clone());
    let outcome = blocking(&panel, move |w| w.send_test(&pp, &ctx, &hook)).await?;
    finish(&panel, (p, peer, request_id), &csrf, id, outcome, "test").await
}

/// `POST /webhooks/{id}/deliveries/{delivery}/retry`.
pub async fn retry(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path((id, delivery)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id.clone(), peer);
    let (pp, hook) = (p.clone(), id.clone());
    let outcome = blocking(&panel, move |w| w.retry(&pp, &ctx, &hook, &delivery)).await?;
    finish(&panel, (p, peer, request_id), &csrf, id, outcome, "retried").await
}
