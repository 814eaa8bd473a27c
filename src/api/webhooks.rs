//! `/api/v1/webhooks`: the team's signed webhooks (owners and admins). The secret is in the
//! create answer only; lists and delivery logs never carry it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::errors::webhooks_blocking;
use super::json::ApiJson;
use super::ApiState;
use crate::identity::Principal;
use crate::web::{Authed, HttpError, RequestId};
use crate::webhooks::{Attempt, DeliveryRow, WebhookRow, WebhookSummary};

/// `POST /api/v1/webhooks` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// The receiver: `https://…` (its every address must be public unless the appliance
    /// allows private targets).
    url: String,
    /// Audit action patterns: `command.finished`, `command.*` or `*`.
    events: Vec<String>,
}

/// A delivery's newest state, as a list shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LastDelivery {
    /// The delivery's id.
    id: String,
    /// `pending`, `delivered` or `dead`.
    state: String,
    /// The newest attempt's HTTP status, if it got an answer.
    status: Option<u16>,
    /// The newest attempt's error, if it failed.
    error: Option<String>,
    /// Unix seconds of its newest attempt.
    at: Option<i64>,
}

/// A webhook (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    events: Vec<String>,
    /// Email of the owner or admin who added it.
    created_by: String,
    /// Unix seconds.
    created: i64,
    /// Its newest delivery (absent in a create answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_delivery: Option<LastDelivery>,
}

fn view(w: &WebhookRow, last: Option<&DeliveryRow>) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        created_by: w.created_by.clone(),
        created: w.created_ms / 1000,
        last_delivery: last.map(|d| {
            let a = d.attempts.last();
            LastDelivery {
                id: d.id.clone(),
                state: d.state.as_str().into(),
                status: a.and_then(|a| a.status),
                error: a.and_then(|a| a.error.clone()),
                at: a.map(|a| a.at_ms / 1000),
            }
        }),
    }
}

/// The create answer: the webhook and its secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedView {
    #[serde(flatten)]
    webhook: WebhookView,
    /// 64 hex characters: the HMAC-SHA256 key is the 32 bytes they encode. Shown only here.
    secret: String,
}

/// Webhooks.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

/// One attempt of a delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// 1 for the first; counting continues across manual retries.
    attempt: u32,
    /// Unix milliseconds when it started.
    at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    status: Option<u16>,
    /// What went wrong, if it did.
    error: Option<String>,
    /// How long it took.
    duration_ms: u64,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        Self {
            attempt: a.n,
            at_ms: a.at_ms,
            status: a.status,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        }
    }
}

/// One delivery with its attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: String,
    /// The event sent (`X-Tundra-Event`).
    event: String,
    /// Sequence number of the audit record delivered.
    seq: u64,
    /// `pending`, `delivered` or `dead`.
    state: String,
    /// Unix seconds.
    created: i64,
    /// Unix milliseconds of the next attempt (pending only).
    next_attempt_ms: Option<i64>,
    attempts: Vec<AttemptView>,
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(d: &DeliveryRow) -> Self {
        Self {
            id: d.id.clone(),
            event: d.event.clone(),
            seq: d.seq,
            state: d.state.as_str().into(),
            created: d.created_ms / 1000,
            next_attempt_ms: d.next_ms,
            attempts: d.attempts.iter().map(AttemptView::from).collect(),
        }
    }
}

/// A webhook's delivery log, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    webhook: WebhookView,
    deliveries: Vec<DeliveryView>,
}

/// `GET /api/v1/webhooks`.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks", responses((status = 200, description = "The team's webhooks (no secrets)", body = WebhookList), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
) -> Result<Json<WebhookList>, HttpError> {
    let rows: Vec<WebhookSummary> = webhooks_blocking(&api, move |w| w.list(&principal)).await?;
    Ok(Json(WebhookList {
        webhooks: rows
            .iter()
            .map(|s| view(&s.webhook, s.last.as_ref()))
            .collect(),
    }))
}

/// `POST /api/v1/webhooks`: add a webhook; the answer carries its secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks", request_body = WebhookBody, responses((status = 201, description = "Created; `secret` is shown only now", body = CreatedView), (status = 400, description = "Bad URL (scheme, or an address the appliance may not reach) or event pattern", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody), (status = 409, description = "The team has the most webhooks allowed", body = crate::api::ErrorBody)))]
pub async fn create(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let created = api
        .webhooks
        .create(&principal, &ctx, &body.url, &body.events)
        .await
        .map_err(super::errors::webhook)?;
    let answer = CreatedView {
        webhook: view(&created.webhook, None),
        secret: created.secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/v1/webhooks/{id}`: delete it and drop its pending deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks", params(("id" = String, Path, description = "Webhook id")), responses((status = 204, description = "Deleted"), (status = 404, description = "No such webhook in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn delete(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    webhooks_blocking(&api, move |w| w.delete(&principal, &ctx, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "webhook_deliveries", tag = "webhooks", params(("id" = String, Path, description = "Webhook id")), responses((status = 200, description = "The log (the newest 100 deliveries)", body = DeliveryLog), (status = 404, description = "No such webhook in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "Role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn deliveries(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryLog>, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let (w, log) = webhooks_blocking(&api, move |s| s.deliveries(&principal, &ctx, &id)).await?;
    Ok(Json(DeliveryLog {
        webhook: view(&w, log.first()),
        deliveries: log.iter().map(DeliveryView::from).collect(),
    }))
}

/// `POST /api/v1/webhooks/{id}/test`: queue a `webhook.test` delivery to this webhook only.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks", params(("id" = String, Path, description = "Webhook id")), responses((status = 202, description = "Queued", body = DeliveryView), (status = 404, description = "No such webhook in your team", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn test(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let d = webhooks_blocking(&api, move |w| w.send_test(&principal, &ctx, &id)).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))).into_response())
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery}/retry`: queue a dead letter again.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/retry", operation_id = "retry_webhook_delivery", tag = "webhooks", params(("id" = String, Path, description = "Webhook id"), ("delivery" = String, Path, description = "Delivery id")), responses((status = 202, description = "Queued with a fresh round of attempts", body = DeliveryView), (status = 404, description = "No such webhook or delivery in your team", body = crate::api::ErrorBody), (status = 409, description = "The delivery is not dead-lettered", body = crate::api::ErrorBody), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low or two-factor required", body = crate::api::ErrorBody)))]
pub async fn retry(
    State(api): State<Arc<ApiState>>,
    Authed(principal): Authed<Principal>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let ctx = principal.request_context(request_id, peer);
    let d = webhooks_blocking(&api, move |w| w.retry(&principal, &ctx, &id, &delivery)).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))).into_response())
}
