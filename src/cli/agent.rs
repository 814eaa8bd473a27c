//! `tundra agent enroll|run`: the agent daemon on a managed host.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tokio::sync::watch;

use crate::agent::{self, AgentError, EnrollOptions, RunOptions, StateDir, DEFAULT_STATE_DIR};

/// Agent commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll this host with a registration token (once).
    Enroll {
        /// The panel URL, e.g. https://panel.example.com.
        #[arg(long)]
        server: String,
        /// The registration token (tnd_reg_…).
        #[arg(long, env = "TUNDRA_AGENT_TOKEN", hide_env_values = true)]
        token: String,
        /// SHA-256 of the appliance's agent CA (shown on the panel's Enroll page).
        #[arg(long, value_name = "FP")]
        ca_sha256: String,
        /// Display name (default: the host name).
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Where the agent keeps its keys and certificate.
        #[arg(long, env = "TUNDRA_AGENT_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Keep the connection to the appliance open (the service's command).
    Run {
        /// Where the agent keeps its keys and certificate.
        #[arg(long, env = "TUNDRA_AGENT_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

/// Exit status when the appliance requires a newer agent (the unit does not restart it).
const EXIT_UPDATE_REQUIRED: u8 = 3;

/// Runs an agent command.
pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Enroll {
            server,
            token,
            ca_sha256,
            name,
            tags,
            state_dir,
        } => {
            let state = StateDir::new(state_dir);
            let opts = EnrollOptions {
                server,
                token,
                ca_sha256,
                name,
                tags,
                hostname: None,
            };
            let id = agent::enroll(&state, &opts).await?;
            println!(
                "enrolled as {id}; state in {}\nstart it with: systemctl enable --now tundra-agent",
                state.path().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { state_dir } => {
            let (stop_tx, stop) = watch::channel(false);
            let signal = super::serve::shutdown_signal()?;
            tokio::spawn(async move {
                let reason = signal.await;
                tracing::info!(%reason, "agent stopping");
                let _ = stop_tx.send(true);
            });
            match agent::run(&StateDir::new(state_dir), RunOptions::default(), stop).await {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e @ AgentError::UpdateRequired { .. }) => {
                    eprintln!("tundra agent: {e}");
                    Ok(ExitCode::from(EXIT_UPDATE_REQUIRED))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
