//! The integration suite: one binary, one module per area. Tests start the real appliance
//! in-process on 127.0.0.1:0 (see `fixture`) and drive it through its real interfaces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod acceptance;
mod agents;
mod api_tokens;
mod architecture;
mod audit_chain;
mod audit_denials;
mod audit_surfaces;
mod auth_flow;
mod break_glass;
mod cli_local;
mod commands_api;
mod commands_e2e;
mod commands_panel;
mod config_errors;
mod engine_corpus;
mod fixture;
mod fleet_api;
mod fleet_panel;
mod http_surface;
mod init_and_refusals;
mod lifecycle;
mod limits;
mod openapi;
mod operator_cli;
mod panel_pages;
mod panel_tokens;
mod redirect;
mod tls;
mod token_scope;
mod two_factor;
mod users_api;
mod webhooks;
