//! The JSON API under `/api/v1` (and `/healthz`): thin handlers over the services of rows
//! 2–3. Errors are `{"error":{"code","message"}}`, rendered by `web`.

mod auth;
mod health;
mod json;
mod me;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::clock::SharedClock;
use crate::identity::Identity;

pub use auth::invalid_credentials;

/// What the API handlers use.
pub struct ApiState {
    /// Teams, users, sessions.
    pub identity: Arc<Identity>,
    /// The clock.
    pub clock: SharedClock,
}

/// The API's routes.
pub fn routes(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/me", get(me::me))
        .with_state(state)
}
