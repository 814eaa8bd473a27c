//! The web panel: server-rendered pages (minijinja, auto-escaping on, one file per page) and
//! the embedded static assets.
//!
//! Pages carry no inline script or style, so the CSP needs no `unsafe-inline`. The panel only
//! renders; it never writes the store directly.

mod assets;
mod index;
mod session;
mod templates;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use templates::Templates;

/// What the public pages show about this appliance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApplianceInfo {
    /// SHA-256 of the panel's TLS certificate (what a browser shows).
    pub panel_cert_sha256: String,
    /// SHA-256 of the agent CA (what `tundra agent enroll --ca-sha256` pins).
    pub agent_ca_sha256: String,
}

/// The panel's state.
pub struct Panel {
    /// Teams, users, sessions.
    pub identity: Arc<crate::identity::Identity>,
    /// The embedded templates.
    pub templates: Arc<Templates>,
    /// Fingerprints shown on the front page.
    pub info: ApplianceInfo,
}

/// The panel's routes.
pub fn routes(panel: Arc<Panel>) -> Router {
    Router::new()
        .route("/", get(index::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/setup", get(session::setup_page).post(session::setup))
        .route("/assets/{*path}", get(assets::serve))
        .with_state(panel)
}
