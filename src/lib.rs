//! Tundra: a self-hosted remote-access appliance in one binary.
//!
//! # Layout
//!
//! Dependencies point one way, down this list: a module may use the rows above it, never
//! below. `tests/it/architecture.rs` fails the build on an edge against it.
//!
//! | row | module | owns |
//! |---|---|---|
//! | 0 | [`model`] | plain ids and actors |
//! | 0 | [`clock`] | the only reader of wall time; a [`clock::Clock`] everything else takes |
//! | 0 | [`proto`] | versioned messages shared with local and remote clients |
//! | 0 | [`crypto`] | master key, sealing, digests, signatures, X.509, passwords, TOTP, tokens (uses nothing internal) |
//! | 1 | [`config`] | TOML + `TUNDRA_*` env validated into a typed [`config::Config`] |
//! | 1 | [`store`] | redb with typed tables and transactions, schema version, migrations |
//! | 1 | [`policy`] | pure decisions: the RBAC matrix, login throttling, the team ACL, the command security engine, command rate limits, denial sampling |
//! | 2 | [`audit`] | the chained, signed audit log: append, export, head, offline verify |
//! | 2 | [`identity`] | teams, users, memberships and roles (logins and sessions to come) |
//! | 2 | [`fleet`] | the internal agent CA |
//! | 3 | [`webhooks`] | per-team signed webhooks: the outbox the audit hook writes, SSRF-checked delivery with retries, the delivery log |
//! | 4 | [`web`] | HTTPS/HTTP listeners, TLS, security headers, limits, error rendering (no features) |
//! | 4 | [`panel`] | server-rendered pages and embedded assets |
//! | 4 | [`api`] | JSON endpoints |
//! | 5 | [`app`] | composition root: opens the data dir, wires routers, runs and shuts down |
//! | 5 | [`cli`] | clap commands, one file each |
//! | side | [`operator`] | `tundra login/agents/exec/logout`: the operator's HTTPS client of the API (uses rows 0–1 only) |
//! | side | [`acceptance`] | `tundra acceptance run`: black-box and local hardening checks (uses rows 0–1 only) |

pub mod acceptance;
pub mod agent;
pub mod api;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod fleet;
pub mod identity;
pub mod model;
pub mod operator;
pub mod panel;
pub mod policy;
pub mod proto;
pub mod rendezvous;
pub mod store;
pub mod web;
pub mod webhooks;
