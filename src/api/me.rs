//! `GET /api/v1/me`.

use axum::Json;

use crate::identity::Principal;
use crate::web::Authed;

/// The signed-in user, their active team and role.
pub async fn me(Authed(p): Authed<Principal>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user": {"id": p.user(), "email": p.email()},
        "team": {"id": p.team()},
        "role": p.role(),
        "two_factor_required": p.needs_two_factor(),
    }))
}
