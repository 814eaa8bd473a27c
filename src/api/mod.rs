//! The JSON API under `/api/v1` (and `/healthz`): thin handlers over the services of rows
//! 2–3. Errors are `{"error":{"code","message"}}`, rendered by `web`.

mod account;
mod auth;
mod errors;
mod health;
mod json;
mod me;
mod tokens;
mod users;

use std::sync::Arc;

use axum::routing::{delete, get, patch, post};
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
        .route("/api/v1/auth/reauth", post(auth::reauth))
        .route("/api/v1/auth/team", post(auth::switch_team))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/users", get(users::list).post(users::add))
        .route(
            "/api/v1/users/{id}",
            patch(users::change).delete(users::remove),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/account/totp/setup", post(account::totp_setup))
        .route("/api/v1/account/totp/confirm", post(account::totp_confirm))
        .with_state(state)
}
