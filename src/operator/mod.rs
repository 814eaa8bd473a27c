//! The operator CLI's client side (`tundra login`, `agents`, `exec`, `logout`): talks to an
//! appliance's HTTPS API from an operator's laptop, like any other client.
//!
//! A side module: it uses only rows 0–1 (`model`, `crypto`, `clock`) and never imports
//! server modules — the JSON it reads has its own small structs here ([`api`]), tolerant
//! of fields it does not know. It owns the trust decision for the appliance's certificate
//! ([`trust`]) and the saved login ([`config`]); it never prints, logs or stores a password,
//! and it never shows the API token.

pub mod api;
pub mod client;
pub mod config;
mod error;
pub mod exec;
pub mod login;
pub mod output;
pub mod prompt;
pub mod session;
pub mod trust;
pub mod url;
pub mod verdict;
pub mod wait;

pub use config::OperatorConfig;
pub use error::OperatorError;
pub use session::Session;
pub use trust::TrustMode;
pub use url::ServerUrl;
