//! `GET /api/v1/me`.

use axum::Json;

use crate::identity::Principal;
use crate::web::Authed;

/// The signed-in user, their active team and role.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, description = "The current user, team and role"), (status = 401, description = "Not signed in", body = crate::api::ErrorBody), (status = 403, description = "CSRF token missing, role too low, two-factor or re-auth required", body = crate::api::ErrorBody)))]
pub async fn me(Authed(p): Authed<Principal>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user": {"id": p.user(), "email": p.email()},
        "team": {"id": p.team()},
        "role": p.role(),
        "two_factor_required": p.needs_two_factor(),
    }))
}
