//! `tundra user add|disable|reset-2fa`: break-glass user administration on the server host.

use std::io::{BufRead, Read};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::local::Local;
use super::team::done;
use crate::config::Config;
use crate::proto::control::Request;

/// User commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a user to a team, creating the account if it is new (audited as local-cli).
    Add {
        /// The team's name.
        #[arg(long)]
        team: String,
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// owner, admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// Read the new user's password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they can no longer sign in.
    Disable {
        /// The user's email address.
        email: String,
    },
    /// Remove a user's two-factor enrollment (they enroll again at next sign-in).
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The user's email address.
        email: String,
    },
}

/// Runs a user command through the control socket, or directly when `serve` is not running.
pub async fn run(cmd: Command, config: Config) -> anyhow::Result<ExitCode> {
    let request = match cmd {
        Command::Add {
            team,
            email,
            role,
            password_stdin,
        } => Request::UserAdd {
            team,
            email,
            role,
            password: if password_stdin {
                Some(read_password()?)
            } else {
                None
            },
        },
        Command::Disable { email } => Request::UserDisable { email },
        Command::Reset2fa { email } => Request::UserReset2fa { email },
    };
    done(Local::connect(config).await?.request(request).await?)
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .context("while reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("--password-stdin: standard input held no password");
    }
    Ok(password.to_string())
}
