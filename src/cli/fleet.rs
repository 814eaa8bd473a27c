//! `tundra fleet token-add|deactivate`: break-glass fleet administration on the server host
//! (scripted enrollment, revoking an agent when the panel is out of reach).

use std::process::ExitCode;

use clap::Subcommand;

use super::local::Local;
use super::team::done;
use crate::config::Config;
use crate::proto::control::Request;

/// Fleet commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a registration token (audited as local-cli); prints it and the enroll command.
    TokenAdd {
        /// The team the agents join.
        #[arg(long)]
        team: String,
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Its lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
        /// Comma-separated tags for the agents it enrolls.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
    },
    /// Deactivate an agent: its certificate is refused and its connection closed.
    Deactivate {
        /// The agent's id (agt_…).
        agent: String,
    },
}

/// Runs a fleet command through the control socket, or directly when `serve` is not running.
pub async fn run(cmd: Command, config: Config) -> anyhow::Result<ExitCode> {
    let request = match cmd {
        Command::TokenAdd {
            team,
            uses,
            ttl_secs,
            tags,
        } => Request::RegistrationTokenAdd {
            team,
            uses,
            ttl_secs,
            tags,
        },
        Command::Deactivate { agent } => Request::AgentDeactivate { agent },
    };
    done(Local::connect(config).await?.request(request).await?)
}
