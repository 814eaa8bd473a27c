//! The `tundra` command line: one file per command, each with `pub async fn run(…)`.

// The CLI is where output to stdout belongs.
#![allow(clippy::print_stdout)]

mod acceptance;
mod agent;
mod agents;
mod audit;
mod audit_archive;
mod audit_verify;
mod exec;
mod fleet;
mod init;
mod local;
mod login;
mod logout;
mod serve;
mod team;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "tundra",
    version,
    about = "Self-hosted remote-access appliance: panel, agent rendezvous and signed audit log"
)]
pub struct Cli {
    /// TOML config file (keys as in the README; TUNDRA_* variables override it).
    #[arg(long, global = true, env = "TUNDRA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data dir (overrides `data_dir` in the config and TUNDRA_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: HTTPS panel and API, HTTP redirect, control socket.
    Serve,
    /// Initialize the data dir: master key, store, certificates, signing keys.
    Init,
    /// Export, verify and inspect the signed audit log.
    #[command(subcommand)]
    Audit(audit::Command),
    /// The agent daemon on a managed host: enroll once, then run.
    #[command(subcommand)]
    Agent(agent::Command),
    /// Break-glass fleet administration on the server host.
    #[command(subcommand)]
    Fleet(fleet::Command),
    /// Break-glass team administration on the server host.
    #[command(subcommand)]
    Team(team::Command),
    /// Break-glass user administration on the server host.
    #[command(subcommand)]
    User(user::Command),
    /// The security self-check of a live deployment.
    #[command(subcommand)]
    Acceptance(acceptance::Command),
    /// Operator: sign in to an appliance and keep an API token for this machine.
    Login(login::Login),
    /// Operator: list the team's agents (online, offline, deactivated).
    Agents(agents::Agents),
    /// Operator: run a command on an agent, or on every agent with a tag.
    Exec(exec::Exec),
    /// Operator: revoke the saved API token and forget the login.
    Logout,
}

impl Cli {
    /// Whether this runs the agent daemon (which needs only a single-threaded runtime).
    pub fn is_agent(&self) -> bool {
        matches!(self.command, Command::Agent(_))
    }
}

/// Runs the parsed command line; the exit code is the command's verdict.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve::run(load_config(&cli.config, &cli.data_dir)?).await,
        Command::Init => init::run(load_config(&cli.config, &cli.data_dir)?).await,
        Command::Audit(cmd) => audit::run(cmd, || load_config(&cli.config, &cli.data_dir)).await,
        Command::Agent(cmd) => agent::run(cmd).await,
        Command::Fleet(cmd) => fleet::run(cmd, load_config(&cli.config, &cli.data_dir)?).await,
        Command::Team(cmd) => team::run(cmd, load_config(&cli.config, &cli.data_dir)?).await,
        Command::User(cmd) => user::run(cmd, load_config(&cli.config, &cli.data_dir)?).await,
        Command::Acceptance(cmd) => acceptance::run(cmd, &cli.config, &cli.data_dir).await,
        Command::Login(args) => login::run(args).await,
        Command::Agents(args) => agents::run(args).await,
        Command::Exec(args) => exec::run(args).await,
        Command::Logout => logout::run().await,
    }
}

fn load_config(file: &Option<PathBuf>, data_dir: &Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = Config::load(file.as_deref(), std::env::vars())
        .context("while loading the configuration")?;
    if let Some(dir) = data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}
