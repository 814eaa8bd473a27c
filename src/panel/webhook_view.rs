//! What the webhook pages share: running webhook work off the async threads, the words for
//! its refusals, and a webhook and a delivery as the templates see them.

use std::sync::Arc;

use axum::http::StatusCode;

use super::command_view::when_ms;
use super::Panel;
use crate::identity::IdentityError;
use crate::web::HttpError;
use crate::webhooks::{DeliveryRow, DeliveryState, WebhookError, WebhookRow, Webhooks};

/// Runs webhook work off the async threads; the service's own error is left to the caller.
pub async fn blocking<T: Send + 'static>(
    panel: &Panel,
    f: impl FnOnce(&Webhooks) -> Result<T, WebhookError> + Send + 'static,
) -> Result<Result<T, WebhookError>, HttpError> {
    let webhooks = Arc::clone(&panel.webhooks);
    tokio::task::spawn_blocking(move || f(&webhooks))
        .await
        .map_err(HttpError::internal)
}

/// What the user is told about a refused operation, with the page's status; `Err` for what
/// is no user mistake (another team's webhook is the 404 page, a role too low the 403 page).
pub fn refusal(e: WebhookError) -> Result<(StatusCode, String), HttpError> {
    Ok(match e {
        WebhookError::Invalid { field, message } => {
            let label = match field.as_str() {
                "url" => "URL",
                "events" => "Events",
                other => other,
            };
            (StatusCode::BAD_REQUEST, format!("{label}: {message}."))
        }
        WebhookError::Conflict(m) => (StatusCode::CONFLICT, m),
        WebhookError::Identity(IdentityError::TwoFactorRequired) => (
            StatusCode::FORBIDDEN,
            "Set up two-factor authentication on the Account page first: owners and admins \
             need it before they can act."
                .into(),
        ),
        WebhookError::Forbidden(m) => {
            return Err(HttpError::new(StatusCode::FORBIDDEN, "forbidden", m))
        }
        WebhookError::NotFound => return Err(HttpError::not_found()),
        e => return Err(HttpError::internal(e)),
    })
}

/// A refusal as the error page of a page that cannot be shown at all.
pub fn page_error(e: WebhookError) -> HttpError {
    match refusal(e) {
        Ok((status, message)) => HttpError::new(status, "refused", message),
        Err(page) => page,
    }
}

/// The badge class of a delivery state.
fn badge(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "status-pending",
        DeliveryState::Delivered => "status-completed",
        DeliveryState::Dead => "status-failed",
    }
}

/// One delivery for the templates: its state, attempts and whether it failed last time.
pub fn delivery_context(d: &DeliveryRow) -> minijinja::Value {
    let last = d.attempts.last();
    minijinja::context! {
        id => &d.id, event => &d.event, seq => d.seq, state => d.state.as_str(),
        badge => badge(d.state), created => when_ms(d.created_ms),
        next => d.next_ms.map(when_ms).unwrap_or_default(),
        dead => d.state == DeliveryState::Dead,
        last_status => last.and_then(|a| a.status),
        last_error => last.and_then(|a| a.error.clone()).unwrap_or_default(),
        attempts => d.attempts.iter().rev().map(|a| minijinja::context! {
            n => a.n, at => when_ms(a.at_ms), status => a.status,
            error => a.error.clone().unwrap_or_default(), duration_ms => a.duration_ms,
        }).collect::<Vec<_>>(),
    }
}

/// One webhook for the templates (never its secret).
pub fn webhook_context(w: &WebhookRow, last: Option<&DeliveryRow>) -> minijinja::Value {
    minijinja::context! {
        id => &w.id, url => &w.url, events => &w.events, created_by => &w.created_by,
        created => when_ms(w.created_ms), last => last.map(delivery_context),
    }
}
