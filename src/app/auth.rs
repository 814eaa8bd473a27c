//! Wires identity's sessions into `web`'s authentication extractor and CSRF refusals into
//! the audit log.

use std::sync::Arc;

use http::request::Parts;
use http::StatusCode;

use super::core::Core;
use crate::audit::{AuditContext, AuditEvent};
use crate::identity::{Identity, Principal};
use crate::model::Actor;
use crate::web::{cookies, Authenticate, BoxFuture, CsrfPolicy, HttpError, RequestId};

/// Authenticates requests by their session cookie.
pub struct SessionAuth {
    pub identity: Arc<Identity>,
}

fn unauthorized() -> HttpError {
    HttpError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first.")
}

impl Authenticate<Principal> for SessionAuth {
    fn authenticate<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Principal, HttpError>> {
        Box::pin(async move {
            let Some(id) = cookies::get(&parts.headers, cookies::SESSION).filter(|v| !v.is_empty())
            else {
                return Err(unauthorized());
            };
            let identity = Arc::clone(&self.identity);
            tokio::task::spawn_blocking(move || identity.session_principal(&id))
                .await
                .map_err(HttpError::internal)?
                .map_err(HttpError::internal)?
                .ok_or_else(unauthorized)
        })
    }
}

/// CSRF tokens from the OS CSPRNG; refusals audited (best effort: the request is refused
/// whether or not the record lands).
pub fn csrf_policy(core: &Arc<Core>) -> CsrfPolicy {
    let core = Arc::clone(core);
    CsrfPolicy {
        issue: Arc::new(crate::crypto::token::csrf_token),
        on_refusal: Arc::new(move |parts: &Parts| {
            let ctx = AuditContext {
                request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
                source_ip: parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip()),
                ..AuditContext::actor(Actor::Anonymous)
            };
            let event = AuditEvent::CsrfRefused {
                request: format!("{} {}", parts.method, parts.uri.path()),
            };
            let core = Arc::clone(&core);
            tokio::task::spawn_blocking(move || {
                if let Err(e) = core.audit.append_alone(&core.store, &ctx, &event) {
                    tracing::error!(error = %e, "could not audit a CSRF refusal");
                }
            });
        }),
    }
}
