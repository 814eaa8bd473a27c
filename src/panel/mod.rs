//! The web panel: server-rendered pages (minijinja, auto-escaping on, one file per page) and
//! the embedded static assets.
//!
//! Pages carry no inline script or style, so the CSP needs no `unsafe-inline`. The panel only
//! renders; it never writes the store directly.

mod account;
mod agent_actions;
mod agent_commands;
mod agents;
mod approvals;
mod assets;
mod audit;
mod chart;
mod command_list;
mod command_page;
mod command_view;
mod enroll;
mod fleet_view;
mod index;
mod members;
mod policy_draft;
mod policy_editor;
mod script_page;
mod scripts;
mod security;
mod session;
mod stages;
mod templates;
mod tokens;
mod webhook_page;
mod webhook_view;
mod webhooks;

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
    /// Per-team webhooks.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
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
        .route("/agents/{id}/commands", post(agent_commands::run))
        .route(
            "/commands",
            get(command_list::list).post(command_list::run_by_tag),
        )
        .route("/commands/{id}", get(command_page::show))
        .route("/commands/{id}/stdout", get(command_page::stdout))
        .route("/commands/{id}/stderr", get(command_page::stderr))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/deny", post(approvals::deny))
        .route("/scripts", get(scripts::list).post(scripts::approve))
        .route("/scripts/{name}", get(script_page::show))
        .route("/scripts/{name}/run", post(script_page::run))
        .route("/scripts/{name}/retire", post(scripts::retire))
        .route(
            "/policy",
            get(policy_editor::show).post(policy_editor::save),
        )
        .route("/policy/preview", post(policy_editor::preview))
        .route("/audit", get(audit::show))
        .route("/audit/head", post(audit::publish))
        .route("/audit/head.json", get(audit::head))
        .route("/audit/export.jsonl", get(audit::export))
        .route("/audit/pubkey", get(audit::pubkey))
        .route("/enroll", get(enroll::show).post(enroll::create))
        .route("/enroll/{id}/revoke", post(enroll::revoke))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhook_page::show))
        .route("/webhooks/{id}/delete", post(webhooks::delete))
        .route("/webhooks/{id}/test", post(webhook_page::test))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhook_page::retry),
        )
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

/// What the navigation bar shows about the signed-in user on the page of `section` (marked
/// `aria-current`), with the number of the team's commands waiting for an approval (read
/// off the async threads; 0 when it cannot be read, which never fails the page).
pub(crate) async fn nav(
    panel: &Panel,
    p: &crate::identity::Principal,
    section: &str,
) -> minijinja::Value {
    let commands = Arc::clone(&panel.commands);
    let pp = p.clone();
    let waiting = match tokio::task::spawn_blocking(move || commands.approvals(&pp)).await {
        Ok(Ok(rows)) => rows.len(),
        // Owners and admins without two-factor see no queue until they enroll.
        Ok(Err(crate::commands::CommandError::Identity(_))) => 0,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not count the approval queue");
            0
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not count the approval queue");
            0
        }
    };
    minijinja::context! {
        email => p.email(), role => p.role().as_str(), team => p.team().0.clone(),
        needs_two_factor => p.needs_two_factor(), section, waiting,
        can_security => crate::policy::allows(p.role(), crate::policy::Action::SecurityChecks),
        can_webhooks => crate::policy::allows(p.role(), crate::policy::Action::ManageFleet),
    }
}
