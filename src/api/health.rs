//! Liveness.

use axum::Json;

/// `GET /healthz`: 200 while the process serves requests. Says nothing about versions.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "The appliance is serving")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
