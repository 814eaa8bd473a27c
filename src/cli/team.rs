//! `tundra team add`: break-glass team administration on the server host.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use super::local::Local;
use crate::config::Config;
use crate::proto::control::{Request, Response};

/// Team commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a team (audited as local-cli).
    Add {
        /// The team's name (unique, case-insensitively).
        name: String,
    },
}

/// Runs a team command through the control socket, or directly when `serve` is not running.
pub async fn run(cmd: Command, config: Config) -> anyhow::Result<ExitCode> {
    let Command::Add { name } = cmd;
    done(
        Local::connect(config)
            .await?
            .request(Request::TeamAdd { name })
            .await?,
    )
}

/// Prints a `Done` answer.
pub fn done(response: Response) -> anyhow::Result<ExitCode> {
    match response {
        Response::Done { message } => {
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unexpected answer: {other:?}"),
    }
}
