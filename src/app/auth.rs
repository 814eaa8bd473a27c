//! Wires identity's sessions into `web`'s authentication extractor and CSRF refusals into
//! the audit log.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::request::Parts;
use http::StatusCode;

use super::core::Core;
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::Secret;
use crate::identity::{Identity, Principal};
use crate::model::Actor;
use crate::web::{cookies, Authenticate, BoxFuture, CsrfPolicy, HttpError, RequestId};

/// Authenticates requests by a bearer API token (`Authorization: Bearer tnd_live_…`) or,
/// when there is no `Authorization` header, by the session cookie. A request that has the
/// header is judged by it alone: a bad token never falls back to the cookie. A token in the
/// query string is refused without being looked up (URLs end up in logs and history).
pub struct SessionAuth {
    pub identity: Arc<Identity>,
}

fn unauthorized() -> HttpError {
    HttpError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first.")
}

fn bad_token() -> HttpError {
    HttpError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "The API token is malformed, unknown, expired or revoked.",
    )
}

/// Query parameters that would put a credential in the URL.
const TOKEN_QUERY_PARAMS: &[&str] = &["token", "access_token", "api_token"];

/// Whether the query string carries a token (by parameter name or by a `tnd_` value).
fn token_in_query(parts: &Parts) -> bool {
    let Some(query) = parts.uri.query() else {
        return false;
    };
    let suspicious = |k: &str, v: &str| {
        TOKEN_QUERY_PARAMS
            .iter()
            .any(|p| k.trim().eq_ignore_ascii_case(p))
            || v.trim().starts_with("tnd_")
    };
    match serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
        Ok(pairs) => pairs.iter().any(|(k, v)| suspicious(k, v)),
        Err(_) => {
            let q = query.to_ascii_lowercase();
            q.contains("token") || q.contains("tnd_")
        }
    }
}

/// The request id and peer address for audit records written while authenticating.
fn request_context(parts: &Parts) -> AuditContext {
    AuditContext {
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
        source_ip: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip()),
        ..AuditContext::actor(Actor::Anonymous)
    }
}

impl SessionAuth {
    async fn by_token(&self, parts: &Parts) -> Result<Principal, HttpError> {
        let mut headers = parts.headers.get_all(AUTHORIZATION).iter();
        let (Some(header), None) = (headers.next(), headers.next()) else {
            return Err(bad_token());
        };
        let value = header
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, v)| Secret::new(v.trim().to_string()))
            .ok_or_else(bad_token)?;
        let identity = Arc::clone(&self.identity);
        let ctx = request_context(parts);
        tokio::task::spawn_blocking(move || identity.token_principal(value.expose(), &ctx))
            .await
            .map_err(HttpError::internal)?
            .map_err(HttpError::internal)?
            .ok_or_else(bad_token)
    }
}

impl Authenticate<Principal> for SessionAuth {
    fn authenticate<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Principal, HttpError>> {
        Box::pin(async move {
            if token_in_query(parts) {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    "token_in_query",
                    "API tokens are accepted only in the Authorization: Bearer header, never in \
                     the URL. Revoke this token: URLs are logged and it may have leaked.",
                ));
            }
            if parts.headers.contains_key(AUTHORIZATION) {
                return self.by_token(parts).await;
            }
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
                if let Err(e) = core.audit.append_denial(&core.store, &ctx, &event) {
                    tracing::error!(error = %e, "could not audit a CSRF refusal");
                }
            });
        }),
    }
}
