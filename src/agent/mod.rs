//! The agent daemon (`tundra agent enroll|run`): enrolls once, then keeps one outbound
//! gRPC/mTLS control stream to the appliance, heartbeating its health and running the
//! non-interactive commands it is sent — each at most once, under `agent.toml`'s policy,
//! with a signed result. It never listens.
//!
//! A side module: it talks to the appliance over the network like any client and uses only
//! rows 0–1 (wire messages, crypto, clock).

mod account;
mod backoff;
mod command;
mod config;
mod connect;
mod dispatch;
mod enroll;
mod error;
pub mod exec;
mod health;
pub mod journal;
mod pin;
mod state;
#[cfg(test)]
mod test_support;

pub use backoff::Backoff;
pub use command::{
    deliver, handle_run_command, prepare, CommandContext, Job, Outbox, Prepared, Reply,
    MAX_COMMAND_ID,
};
pub use config::{AgentConfig, CONFIG_FILE};
pub use connect::{channel_for, run, signed_hello, RunOptions, Stopped};
pub use dispatch::{Dispatcher, MAX_PENDING, MAX_RUNNING};
pub use enroll::{enroll, EnrollOptions};
pub use error::AgentError;
pub use state::{Enrollment, Loaded, StateDir, DEFAULT_STATE_DIR};

/// This agent's version (what it reports and what `min_agent_version` is compared to).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
