//! The middleware every request passes: request id, `Host` check, body limit, error
//! rendering and security headers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderValue, StatusCode};
use http_body_util::Limited;

use super::error::{ErrorRenderer, HttpError, PendingError, Rendered};
use super::headers;

/// The largest request body accepted; larger ones get 413 before they are buffered.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The request's id, also sent back as `X-Request-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// What `harden` enforces on one listener.
pub struct WebPolicy {
    /// Host names (lowercase, without port) requests may name; `None` accepts any (the
    /// redirect listener never uses `Host`).
    pub allowed_hosts: Option<Vec<String>>,
    /// Renders browser error pages.
    pub renderer: Arc<dyn ErrorRenderer>,
}

/// Runs around every handler; see the module doc.
pub async fn harden(State(policy): State<Arc<WebPolicy>>, req: Request, next: Next) -> Response {
    let request_id = crate::crypto::random::hex_id();
    let api = is_api(req.uri().path());
    let mut res = match check(&policy, req, &request_id) {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let failed = res.status().is_client_error() || res.status().is_server_error();
    if failed && res.extensions().get::<Rendered>().is_none() {
        res = render_error(&policy, res, &request_id, api);
    }
    let headers = res.headers_mut();
    headers::apply(headers);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    res
}

fn check(policy: &WebPolicy, mut req: Request, request_id: &str) -> Result<Request, HttpError> {
    if let Some(allowed) = &policy.allowed_hosts {
        let host = request_host(&req).unwrap_or_default();
        if !allowed.contains(&host) {
            return Err(HttpError::for_status(StatusCode::MISDIRECTED_REQUEST)
                .log(format!("Host {host:?} is not a configured name")));
        }
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(n)) if n > MAX_BODY_BYTES as u64 => {
            return Err(HttpError::for_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Some(Err(_)) => return Err(HttpError::for_status(StatusCode::BAD_REQUEST)),
        _ => {}
    }
    req.extensions_mut()
        .insert(RequestId(request_id.to_string()));
    Ok(req.map(|body| Body::new(Limited::new(body, MAX_BODY_BYTES))))
}

/// The host a request names: `Host` for HTTP/1.1, the `:authority` for HTTP/2; lowercase,
/// without port.
fn request_host(req: &Request) -> Option<String> {
    let raw = match req.headers().get(HOST).and_then(|v| v.to_str().ok()) {
        Some(h) => h.to_string(),
        None => req.uri().authority()?.as_str().to_string(),
    };
    let auth: http::uri::Authority = raw.parse().ok()?;
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    Some(host.to_ascii_lowercase())
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn render_error(policy: &WebPolicy, res: Response, request_id: &str, api: bool) -> Response {
    let (mut parts, _) = res.into_parts();
    let err = parts
        .extensions
        .remove::<PendingError>()
        .map(|p| p.0)
        .unwrap_or_else(|| HttpError::for_status(parts.status));
    if err.status.is_server_error() || err.log.is_some() {
        tracing::warn!(
            request_id,
            status = err.status.as_u16(),
            code = err.code,
            detail = err.log.as_deref().unwrap_or(""),
            "request failed"
        );
    }
    let (ctype, body) = if api {
        let body = serde_json::json!({"error": {"code": err.code, "message": err.message}});
        ("application/json", body.to_string())
    } else {
        (
            "text/html; charset=utf-8",
            policy.renderer.render_html(&err, request_id),
        )
    };
    parts.status = err.status;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    Response::from_parts(parts, Body::from(body))
}
