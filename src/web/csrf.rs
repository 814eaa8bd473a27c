//! CSRF protection by double submit: a random token in the `__Host-tundra_csrf` cookie must
//! come back in the `X-CSRF-Token` header or a `csrf_token` form field of every mutating
//! request, compared in constant time. Requests authenticated only by a bearer token carry
//! no cookies a forged request could ride on, so they are exempt.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Method, StatusCode};

use super::cookies;
use super::error::HttpError;
use super::harden::MAX_BODY_BYTES;

/// The CSRF token of this request (existing or just issued), for forms to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// Called when a mutating request is refused (the app audits it).
pub type CsrfRefusal = Arc<dyn Fn(&http::request::Parts) + Send + Sync>;

/// Makes a token for a client that has none.
pub type CsrfIssuer = Arc<dyn Fn() -> String + Send + Sync>;

/// The middleware's configuration.
pub struct CsrfPolicy {
    /// Issues new tokens.
    pub issue: CsrfIssuer,
    /// Told about every refusal.
    pub on_refusal: CsrfRefusal,
}

fn mutating(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware; see the module doc.
pub async fn csrf(State(policy): State<Arc<CsrfPolicy>>, req: Request, next: Next) -> Response {
    let cookie = cookies::get(req.headers(), cookies::CSRF).filter(|c| !c.is_empty());
    let (token, fresh) = match &cookie {
        Some(c) => (c.clone(), false),
        None => ((policy.issue)(), true),
    };
    let mut req = req;
    if mutating(req.method()) && !bearer_only(&req) {
        let (parts, body) = req.into_parts();
        let (submitted, body) = match parts.headers.get("x-csrf-token") {
            Some(v) => (v.to_str().ok().map(str::to_string), body),
            None if is_form(&parts.headers) => {
                let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
                    return HttpError::for_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
                };
                let field = form_field(&bytes, "csrf_token");
                (field, Body::from(bytes))
            }
            None => (None, body),
        };
        let ok = match (&cookie, &submitted) {
            (Some(c), Some(s)) => crate::crypto::ct_eq(c.as_bytes(), s.as_bytes()),
            _ => false,
        };
        if !ok {
            (policy.on_refusal)(&parts);
            return HttpError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "This request did not carry this page's security token; reload the page and try again.",
            )
            .into_response();
        }
        req = Request::from_parts(parts, body);
    }
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    if fresh {
        if let Ok(v) = HeaderValue::from_str(&cookies::csrf(&token)) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

/// A request with a bearer token and no session cookie.
fn bearer_only(req: &Request) -> bool {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    bearer && cookies::get(req.headers(), cookies::SESSION).is_none()
}

fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
