//! The web panel: server-rendered pages (minijinja, auto-escaping on, one file per page) and
//! the embedded static assets.
//!
//! Pages carry no inline script or style, so the CSP needs no `unsafe-inline`. The panel only
//! renders; it never writes the store directly.

mod account;
mod agent_actions;
mod agents;
mod assets;
mod chart;
mod enroll;
mod fleet_view;
mod index;
mod members;
mod security;
mod session;
mod templates;
mod tokens;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use security::SecurityChecks;
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
    /// The clock (re-auth windows, dates shown).
    pub clock: crate::clock::SharedClock,
    /// Teams, users, sessions.
    pub identity: Arc<crate::identity::Identity>,
    /// The embedded templates.
    pub templates: Arc<Templates>,
    /// Fingerprints shown on the front page.
    pub info: ApplianceInfo,
    /// Registration tokens, agents, health history.
    pub fleet: Arc<crate::fleet::Fleet>,
    /// Live agent connections.
    pub hub: Arc<crate::rendezvous::Hub>,
    /// The command pipeline.
    pub commands: Arc<crate::commands::Commands>,
    /// The public origin agents enroll with (`--server` of the enroll command).
    pub enroll_server: String,
    /// The appliance's security self-check (the security page).
    pub security: Arc<dyn SecurityChecks>,
}

/// The panel's routes.
pub fn routes(panel: Arc<Panel>) -> Router {
    Router::new()
        .route("/", get(index::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/login/code", post(session::login_code))
        .route("/account", get(account::show))
        .route("/account/totp", post(account::totp_begin))
        .route("/account/totp/confirm", post(account::totp_confirm))
        .route("/account/sessions/revoke", post(account::revoke))
        .route("/account/password", post(account::password))
        .route("/account/reauth", post(account::reauth))
        .route("/members", get(members::show).post(members::add))
        .route("/members/{id}/role", post(members::role))
        .route("/members/{id}/remove", post(members::remove))
        .route("/tokens", get(tokens::show).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/agents", get(agents::list))
        .route("/agents/{id}", get(agents::detail))
        .route("/agents/{id}/tags", post(agent_actions::tags))
        .route("/agents/{id}/deactivate", post(agent_actions::deactivate))
        .route("/agents/{id}/delete", post(agent_actions::delete))
        .route("/enroll", get(enroll::show).post(enroll::create))
        .route("/enroll/{id}/revoke", post(enroll::revoke))
        .route("/security", get(security::show))
        .route("/security/run", post(security::run))
        .route("/logout", post(session::logout))
        .route("/setup", get(session::setup_page).post(session::setup))
        .route("/assets/{*path}", get(assets::serve))
        .with_state(panel)
}

/// A page with its status; an error status keeps this body (a form shown again with its
/// message) instead of the generic error page.
pub(crate) fn page(
    panel: &Panel,
    name: &str,
    ctx: minijinja::Value,
    status: http::StatusCode,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match panel.templates.render(name, ctx) {
        Ok(html) => {
            let mut res = (status, axum::response::Html(html)).into_response();
            res.extensions_mut().insert(crate::web::Rendered);
            res
        }
        Err(e) => e.into_response(),
    }
}

/// What the navigation bar shows about the signed-in user.
pub(crate) fn nav(p: &crate::identity::Principal) -> minijinja::Value {
    minijinja::context! {
        email => p.email(), role => p.role().as_str(), team => p.team().0.clone(),
        needs_two_factor => p.needs_two_factor(),
        can_security => crate::policy::allows(p.role(), crate::policy::Action::SecurityChecks),
    }
}
