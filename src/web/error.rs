//! Errors as responses. A handler returns [`HttpError`]; the `harden` middleware turns it —
//! and any other error response, such as a 404 from the router or a 413 from a body limit —
//! into JSON for `/api/` paths or a templated page for browsers. The user sees a clear,
//! generic message and the request id; the log gets the detail.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// An error a handler returns.
#[derive(Debug, Clone)]
pub struct HttpError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// What the user is told.
    pub message: String,
    /// What only the log is told.
    pub log: Option<String>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl HttpError {
    /// An error with a status, code and user-facing message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            log: None,
            retry_after: None,
        }
    }

    /// Asks the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// Adds detail for the log only.
    pub fn log(mut self, detail: impl std::fmt::Display) -> Self {
        self.log = Some(detail.to_string());
        self
    }

    /// 404 with the same body whether the object is missing or belongs to someone else.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Nothing here.")
    }

    /// 500 with a generic message; `detail` goes to the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on the appliance. Quote the request id when reporting it.",
        )
        .log(detail)
    }

    /// The default code and message for an error status nobody described.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "The request is malformed."),
            401 => ("unauthorized", "Sign in first."),
            403 => ("forbidden", "You may not do that."),
            404 => ("not_found", "Nothing here."),
            405 => ("method_not_allowed", "That method is not allowed here."),
            408 => ("request_timeout", "The request took too long to arrive."),
            413 => (
                "payload_too_large",
                "The request body is larger than the 1 MiB limit.",
            ),
            415 => (
                "unsupported_media_type",
                "The request body has an unsupported content type.",
            ),
            421 => (
                "misdirected_request",
                "This appliance does not serve that host name.",
            ),
            422 => ("unprocessable_entity", "The request body is not valid."),
            429 => ("too_many_requests", "Too many requests; slow down."),
            503 => ("unavailable", "The appliance is busy; try again shortly."),
            s if s >= 500 => (
                "internal_error",
                "Something went wrong on the appliance. Quote the request id when reporting it.",
            ),
            _ => ("error", "The request failed."),
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// Marks an error-status response whose body the handler rendered itself (a form shown
/// again with its error), so `harden` keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// Marks a response whose body the `harden` middleware still has to render.
#[derive(Debug, Clone)]
pub struct PendingError(pub HttpError);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        res.extensions_mut().insert(PendingError(self));
        res
    }
}

/// Renders an error as a browser page (implemented by the panel's templates).
pub trait ErrorRenderer: Send + Sync + 'static {
    /// HTML for `err` in the request `request_id`.
    fn render_html(&self, err: &HttpError, request_id: &str) -> String;
}
