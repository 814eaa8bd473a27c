//! The JSON API under `/api/v1` (and `/healthz`): thin handlers over the services of rows
//! 2–3. Errors are `{"error":{"code","message"}}`, rendered by `web`.

mod account;
mod agents;
mod approvals;
mod audit_log;
mod auth;
mod command_view;
mod commands;
mod enroll;
mod errors;
mod health;
mod json;
mod me;
mod policy;
mod registration_tokens;
mod scripts;
mod tokens;
mod users;
mod webhooks;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::SharedClock;
use crate::commands::Commands;
use crate::fleet::Fleet;
use crate::identity::Identity;
use crate::rendezvous::Hub;
use crate::webhooks::Webhooks;

/// What the API handlers use.
pub struct ApiState {
    /// Teams, users, sessions.
    pub identity: Arc<Identity>,
    /// Registration tokens, agents, health history.
    pub fleet: Arc<Fleet>,
    /// Live agent connections.
    pub hub: Arc<Hub>,
    /// The command pipeline.
    pub commands: Arc<Commands>,
    /// Per-team webhooks.
    pub webhooks: Arc<Webhooks>,
    /// The clock.
    pub clock: SharedClock,
    /// The public origin agents enroll with (`--server` of the enroll command).
    pub enroll_server: String,
}

/// The error body every failed API call answers with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents `web::harden`'s rendering; never built here
pub struct ErrorBody {
    error: ErrorDetail,
}

/// `{"code", "message"}` of an error.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    code: String,
    /// What went wrong, for people.
    message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tundra API", description = "Session cookie (+ X-CSRF-Token on mutating requests) or Authorization: Bearer tnd_live_… API token."),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-tundra_session"))),
        );
    }
}

/// The API's routes, and the OpenAPI document built from the same table (so the two cannot
/// drift): every route here is registered through its `#[utoipa::path]` annotation.
pub fn routes(state: Arc<ApiState>) -> Router {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::reauth))
        .routes(routes!(auth::switch_team))
        .routes(routes!(me::me))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::change, users::remove))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(account::totp_setup))
        .routes(routes!(account::totp_confirm))
        .routes(routes!(enroll::enroll))
        .routes(routes!(
            registration_tokens::list,
            registration_tokens::create
        ))
        .routes(routes!(registration_tokens::revoke))
        .routes(routes!(agents::list))
        .routes(routes!(agents::get, agents::delete))
        .routes(routes!(agents::metrics))
        .routes(routes!(agents::set_tags))
        .routes(routes!(agents::deactivate))
        .routes(routes!(commands::run))
        .routes(routes!(commands::list, commands::run_by_tag))
        .routes(routes!(commands::get))
        .routes(routes!(approvals::list))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::deny))
        .routes(routes!(policy::get, policy::put))
        .routes(routes!(policy::preview))
        .routes(routes!(scripts::list, scripts::approve))
        .routes(routes!(scripts::versions, scripts::retire))
        .routes(routes!(audit_log::export))
        .routes(routes!(audit_log::head, audit_log::publish))
        .routes(routes!(audit_log::pubkey))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::retry))
        .with_state(state)
        .split_for_parts();
    let document = Arc::new(openapi.to_pretty_json().unwrap_or_default());
    router.route(
        "/api/v1/openapi.json",
        get(move || {
            let document = Arc::clone(&document);
            async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    document.as_str().to_owned(),
                )
            }
        }),
    )
}
