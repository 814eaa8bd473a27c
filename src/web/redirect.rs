//! The plain-HTTP listener: pages get a 308 to the same path on the configured HTTPS origin
//! (never one built from the request's `Host`); `/api/` is refused, because a client that
//! sent credentials over plain HTTP should fail loudly, not be redirected.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};

use super::error::HttpError;

/// The redirect listener's router; `origin` is e.g. `https://panel.example.com`.
pub fn redirect_router(origin: String) -> Router {
    Router::new().fallback(move |req: Request| {
        let origin = origin.clone();
        async move { redirect(&origin, &req) }
    })
}

fn redirect(origin: &str, req: &Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return HttpError::new(
            StatusCode::FORBIDDEN,
            "https_required",
            "The API is served over HTTPS only; nothing was redirected.",
        )
        .into_response();
    }
    let target = match req.uri().path_and_query() {
        Some(pq) => format!("{origin}{pq}"),
        None => format!("{origin}/"),
    };
    match HeaderValue::from_str(&target) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => HttpError::for_status(StatusCode::BAD_REQUEST).into_response(),
    }
}
