//! JSON bodies with errors that name the problem: malformed JSON is 400 with serde's
//! message, an oversized body 413.

use axum::extract::{FromRequest, Request};
use axum::Json;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::web::HttpError;

/// Like `axum::Json`, but rejections are API errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = rejection.status();
                Err(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    HttpError::for_status(status)
                } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    HttpError::new(
                        status,
                        "unsupported_media_type",
                        "Send the body as JSON with Content-Type: application/json.",
                    )
                } else {
                    HttpError::new(StatusCode::BAD_REQUEST, "bad_json", rejection.body_text())
                })
            }
        }
    }
}
