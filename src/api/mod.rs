//! The JSON API under `/api/v1` (and `/healthz`): thin handlers over the services of rows
//! 2–3. Errors are `{"error":{"code","message"}}`, rendered by `web`.

mod health;

use axum::routing::get;
use axum::Router;

/// The API's routes.
pub fn routes() -> Router {
    Router::new().route("/healthz", get(health::healthz))
}
