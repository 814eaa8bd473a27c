//! `tundra exec TARGET -- CMD…`: run a command on one agent or on every agent with a tag,
//! with ssh's exit statuses.

use std::process::ExitCode;

use clap::Args;

use crate::operator::exec::{run as exec, ExecOptions};
use crate::operator::verdict::EXIT_ERROR;
use crate::operator::{config, OperatorConfig, OperatorError, Session};

/// `tundra exec` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: the remote exit code; 128+N when killed by signal N; \
    124 when it timed out; 126 when it did not run (blocked, denied, expired, refused, \
    failed, interrupted); 255 when the CLI, the network or the API failed. With several \
    agents: 0 when all exited 0, else the first non-zero in agent order."
)]
pub struct Exec {
    /// Seconds the command may run on the agent (default: the appliance's setting).
    #[arg(long, value_name = "S")]
    timeout: Option<u32>,
    /// Idempotency key: the same key on the same agent answers the first command and runs
    /// nothing twice (default: a random one).
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// Print the command ids and return without waiting (exit 0, or 126 for a command
    /// already refused).
    #[arg(long)]
    no_wait: bool,
    /// agt_… (an agent id), tag:NAME (every active agent with the tag), or the name or
    /// host name of exactly one agent.
    #[arg(value_name = "TARGET")]
    target: String,
    /// The command, after `--`; its words are joined with spaces and run by the agent's
    /// /bin/sh, as ssh does. Quote the whole command to keep its own quoting:
    /// tundra exec web-1 -- "sh -c 'echo hi; exit 3'".
    #[arg(last = true, required = true, value_name = "CMD")]
    words: Vec<String>,
}

async fn run_inner(args: Exec) -> Result<u8, OperatorError> {
    let saved = OperatorConfig::load(&config::default_path()?)?;
    let session = Session::new(&saved)?;
    let opts = ExecOptions {
        target: args.target,
        words: args.words,
        request_id: args.request_id,
        timeout_s: args.timeout,
        wait: !args.no_wait,
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    exec(&session, opts, &mut out, &mut err).await
}

/// Runs `tundra exec`; every failure of its own is exit status 255, like ssh's.
pub async fn run(args: Exec) -> anyhow::Result<ExitCode> {
    match run_inner(args).await {
        Ok(status) => Ok(ExitCode::from(status)),
        Err(e) => {
            eprintln!("tundra exec: {e}");
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}
